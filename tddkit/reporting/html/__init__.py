"""The HTML report (``--html FILE``): one self-contained page with the run's JSON document and charts drawn from it."""
