"""``python -m oipviz.cli``: the same as the ``oipviz`` command."""

from oipviz.cli import main

if __name__ == "__main__":
    main()
