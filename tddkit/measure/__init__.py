"""What a test costs: the meter, metrics, statements, query plans and in-test instruments."""
