"""`python -m devtools.dashboards [--check]`: write ops/dashboards/*.json, or fail when they are stale."""

from __future__ import annotations

import sys

from devtools.dashboards.build import OUT_DIR, rendered


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [
            name
            for name, text in files.items()
            if not (OUT_DIR / name).is_file() or (OUT_DIR / name).read_text() != text
        ]
        if stale:
            print(f"stale dashboards: {', '.join(stale)}; run python -m devtools.dashboards", file=sys.stderr)
            return 1
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
