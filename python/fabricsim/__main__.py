"""``python -m fabricsim``: the command line (:mod:`fabricsim.cli.main`)."""

from fabricsim.cli.main import main

raise SystemExit(main())
