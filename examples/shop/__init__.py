"""A small shop application, as a team would write it: a service layer on a psycopg pool, and an ORM."""
