"""``python -m seq2code``: the command line (see :mod:`seq2code.cli`)."""

from seq2code.cli import main

raise SystemExit(main())
