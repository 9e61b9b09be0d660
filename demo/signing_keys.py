"""`python -m demo.signing_keys rotate|show`: rotate the demo site's signing key while it runs (demo/keyring.py).

A module of its own, outside what `demo/__init__.py` imports, so `python -m` runs it cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from demo.keyring import DEFAULT_DIR, load_or_create, rotate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.signing_keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("DEV_KEYS_DIR") or DEFAULT_DIR))
    commands = parser.add_subparsers(dest="command", required=True)
    rotate_cmd = commands.add_parser("rotate", help="make a new current signing key")
    rotate_cmd.add_argument("--keep-previous", type=int, default=1, help="old keys to keep published")
    commands.add_parser("show", help="print the kids and the public JWKS")
    args = parser.parse_args(argv)
    if args.command == "rotate":
        ring = rotate(args.dir, keep_previous=args.keep_previous)
        print(f"current key: {ring.current.kid}; published: {', '.join(k.kid for k in ring.keys)}")
    else:
        ring = load_or_create(args.dir)
        json.dump(ring.jwks(), sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
