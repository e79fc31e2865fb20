"""add item.price

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("item", sa.Column("price", sa.Numeric(10, 2), nullable=False, server_default="0"))


def downgrade():
    op.drop_column("item", "price")
