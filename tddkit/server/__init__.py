"""The PostgreSQL server: binaries, the throwaway embedded server, the kept-running one, the cache, processes."""
