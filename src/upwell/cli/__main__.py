"""``python -m upwell.cli``: the same as the ``upwell`` command."""

from upwell.cli.app import main

main()
