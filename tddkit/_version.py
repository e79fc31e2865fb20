"""tddkit's version: the one place it is written (packaging and every JSON document read it)."""

__version__ = "0.1.0"
