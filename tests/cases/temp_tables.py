"""Classes that all ask for the same temp table, for the SchemaCache tests."""

import tddkit
from tddkit.isolation.temp_tables import schema_cache


class UsesUserTable(tddkit.TDDTestCase):
    def check_fresh_table(self):
        self.create_temp_table("user_table")
        self.assertEqual(self.fetch_all("SELECT count(*) FROM user_table"), [(0,)])
        self.insert_rows("user_table", [{"name": "a"}])
        self.assertEqual(self.fetch_all("SELECT id FROM user_table"), [(1,)])

    def test_1(self):
        self.check_fresh_table()

    def test_2(self):
        self.check_fresh_table()


class First(UsesUserTable):
    pass


class Second(UsesUserTable):
    pass


class Third(UsesUserTable):
    def test_3_hit_runs_no_ddl(self):
        hits = schema_cache.hits
        with self.assertNumQueries(0):
            self.create_temp_table("user_table")
        self.assertEqual(schema_cache.hits, hits + 1)

    def test_4_same_name_other_columns(self):
        self.create_temp_table("order_table", "user_table")
        self.insert_rows("user_table", [{"user_id": 7, "total": 2}])
        self.assertEqual(self.fetch_all("SELECT user_id FROM user_table"), [(7,)])

    def test_5_back_to_the_kept_table(self):
        self.check_fresh_table()
