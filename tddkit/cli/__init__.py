"""The command line: ``python -m tddkit run | watch | bench | server``."""
