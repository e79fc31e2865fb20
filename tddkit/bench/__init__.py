"""``python -m tddkit bench``: the benchmark suite and its comparisons."""
