"""``python -m dialogkit``: the same as the ``dialogkit`` command."""

from dialogkit.cli import main

if __name__ == "__main__":
    main()
