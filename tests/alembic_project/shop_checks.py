"""Copied into the project as test_shop.py: prints what the test database holds and what this process imported."""

import sys

import tddkit


class ShopSchemaTests(tddkit.TDDTestCase):
    def test_report_the_schema(self):
        columns = [r[0] for r in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'item' ORDER BY 1")]
        indexes = [r[0] for r in self.conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'item' AND indexname <> 'item_pkey' ORDER BY 1")]
        version = self.conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        print(f"SCHEMA columns={','.join(columns)} indexes={','.join(indexes)} version={version}", file=sys.stderr)
        imported = [name for name in ("alembic", "shop_models") if name in sys.modules]
        print(f"IMPORTED {','.join(imported) or '-'}", file=sys.stderr)
