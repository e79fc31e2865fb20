"""The async twin: the test's connection as a psycopg AsyncConnection, its pool and SQLAlchemy asyncio leases."""
