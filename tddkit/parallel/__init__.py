"""Running test classes in worker processes, and sharding across CI machines."""
