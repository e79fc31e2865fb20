"""The exit codes of ``python -m tddkit`` (the pytest plugin uses EXIT_GATE_FAILED too)."""

EXIT_OK = 0  # every test passed
EXIT_TESTS_FAILED = 1  # a test failed or errored
EXIT_USAGE = 2  # usage or configuration error: one line on stderr, no traceback
EXIT_GATE_FAILED = 3  # the tests passed, but the performance gate failed or a regression was flagged
EXIT_NO_TESTS = 5  # no tests found
