"""``python -m easypay.cli``: the same command line as the ``easypay`` script."""

from easypay.cli import main

main()
