"""``python -m tddkit watch``: rerun the affected tests on every save, from a warm process."""
