"""`python -m tunekite` is `tk`."""

from tunekite.cli import main

main()
