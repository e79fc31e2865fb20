"""index item.name

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("item_name_idx", "item", ["name"])


def downgrade():
    op.drop_index("item_name_idx", table_name="item")
