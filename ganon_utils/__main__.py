"""``python -m ganon_utils`` runs the command line interface."""

from ganon_utils.cli import main

raise SystemExit(main())
