"""The command line (``python -m fabricsim``, the ``fabricsim`` script:
:mod:`fabricsim.cli.main`) and the demo ``make run`` shows (:mod:`fabricsim.cli.demo`)."""
