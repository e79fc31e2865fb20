"""A conftest.py: starts the process's session itself, from the config file alone, before the plugin does."""
import tddkit

tddkit.get_session()
