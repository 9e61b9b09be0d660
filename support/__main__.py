"""`python -m support`: see support/cli.py."""

from support.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
