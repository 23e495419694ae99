"""``python -m benzosafe``: the same command line as the ``benzosafe`` script."""

from benzosafe.cli import main

main()
