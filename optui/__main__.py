"""``python -m optui``: the same as the ``optui`` command."""

from optui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
