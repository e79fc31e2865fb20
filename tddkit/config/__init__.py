"""Settings: declared once, read from the config file, the environment and the command line."""
