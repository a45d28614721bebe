"""``python -m oipviz.cli``: the same as the ``oipviz`` command."""

from oipviz.cli import main

main()
