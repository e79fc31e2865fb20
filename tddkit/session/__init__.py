"""One process's session: the server, the schema template, the test database; what tddkit owns."""
