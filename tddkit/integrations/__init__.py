"""Optional integrations (SQLAlchemy, pytest): each imported only when used."""
