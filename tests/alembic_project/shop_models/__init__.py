"""The shop's models: the metadata env.py hands to Alembic (for autogenerate)."""

from .item import Item, metadata

__all__ = ["Item", "metadata"]
