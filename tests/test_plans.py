"""explain, assertUsesIndex and assertNoSeqScan on a real server, on a table small enough for sequential scans."""

import unittest

import psycopg
from psycopg import sql

import tddkit
from tddkit.measure.plans import index_scans

ROWS = 20


class PlanTests(tddkit.TDDTestCase):
    """An analysed temp table of 20 rows (one page): the planner's own choice is a sequential scan."""

    def setUp(self):
        self.conn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, code text NOT NULL, category int NOT NULL, "
                          "note text)")
        self.conn.execute("CREATE INDEX items_code_idx ON items (code)")
        self.conn.execute("CREATE INDEX items_category_idx ON items (category)")
        self.conn.execute("INSERT INTO items SELECT g, 'c' || g, g %% 4, 'n' || g FROM generate_series(1, %s) g",
                          (ROWS,))
        self.conn.execute("ANALYZE items")  # a temp table created in the test: gone with its rollback

    def failure(self, check, *args) -> str:
        with self.assertRaises(self.failureException) as caught:
            check(*args)
        return str(caught.exception)

    def test_explain_returns_the_json_plan(self):
        plan = self.explain("SELECT * FROM items WHERE code = %s", ("c3",))
        self.assertEqual((plan["Plan"]["Node Type"], plan["Plan"]["Relation Name"]), ("Seq Scan", "items"),
                         "on 20 rows the planner rightly prefers a sequential scan")
        self.assertNotIn("Execution Time", plan)
        analysed = self.explain(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier("items")), (3,),
                                analyze=True)
        self.assertEqual(analysed["Plan"]["Actual Rows"], 1)
        self.assertIn("Execution Time", analysed)

    def test_uses_index_sees_past_the_tiny_table(self):
        self.assertUsesIndex("SELECT * FROM items WHERE code = %s", ("c3",), "items_code_idx")
        self.assertUsesIndex("SELECT * FROM items WHERE id = 3", None, "items_pkey")

    def test_bitmap_scans_count(self):
        query = "SELECT * FROM items WHERE code = %s OR category = %s"
        plan = self.explain(query, ("c3", 2))  # the helpers discourage seqscans; here the default plan is shown
        self.assertUsesIndex(query, ("c3", 2), "items_code_idx")
        self.assertUsesIndex(query, ("c3", 2), "items_category_idx")
        self.assertNoSeqScan(query, ("c3", 2), "items")
        self.assertEqual(plan["Plan"]["Node Type"], "Seq Scan")

    def test_uses_index_fails_with_the_plan(self):
        message = self.failure(self.assertUsesIndex, "SELECT * FROM items WHERE note = %s", ("n3",), "items_code_idx")
        self.assertTrue(message.startswith("the query does not use index 'items_code_idx' to find its rows, even "
                                           "with sequential scans discouraged; indexes it reads: none\n"), message)
        self.assertIn("Plan (enable_seqscan = off):\n  Seq Scan on items", message)
        self.assertIn("Filter: (note = 'n3'::text)", message)
        other = self.failure(self.assertUsesIndex, "SELECT * FROM items WHERE code = 'c1'", None, "items_pkey")
        self.assertIn("indexes it reads: items_code_idx\n", other)
        self.assertIn("Index Scan using items_code_idx on items", other)

    def test_no_seq_scan(self):
        self.assertNoSeqScan("SELECT * FROM items WHERE code = %s", ("c3",), "items")
        self.assertNoSeqScan("SELECT * FROM items ORDER BY id LIMIT 3", None, "pg_temp.items")
        self.assertNoSeqScan("SELECT * FROM items WHERE note = 'x'", None, "some_other_table")
        message = self.failure(self.assertNoSeqScan, "SELECT * FROM items WHERE note = %s", ("n3",), "items")
        self.assertTrue(message.startswith("the query reads all of table 'items' even with sequential scans "
                                           "discouraged (Seq Scan): no index serves its conditions"), message)
        self.assertIn("Plan (enable_seqscan = off):\n  Seq Scan on items", message)
        whole = self.failure(self.assertNoSeqScan, "SELECT count(*) FROM items", None, "items")
        self.assertRegex(whole, r"\((Index Only Scan|Bitmap Index Scan|Index Scan) using items_\w+ \(no index "
                                r"condition\)\)")

    def test_plans_undo_writes_and_settings_and_are_not_counted(self):
        with self.assertNumQueries(0):
            self.explain("UPDATE items SET note = 'changed' WHERE id = %s", (1,), analyze=True)
            self.explain("DELETE FROM items", analyze=True)
            self.explain("INSERT INTO items VALUES (99, 'c99', 1, 'new')", analyze=True)
            self.assertUsesIndex("UPDATE items SET note = 'x' WHERE code = %s", ("c1",), "items_code_idx")
            self.assertNoSeqScan("DELETE FROM items WHERE id = %s", (2,), "items")
        self.assertEqual(self.conn.execute("SELECT count(*), count(*) FILTER (WHERE note = 'changed') "
                                           "FROM items").fetchone(), (ROWS, 0))
        self.assertEqual(self.conn.execute("SHOW enable_seqscan").fetchone(), ("on",))
        with self.conn.transaction():  # the test's transaction and its savepoints work as before
            self.conn.execute("UPDATE items SET note = 'kept' WHERE id = 1")
        self.assertEqual(self.conn.execute("SELECT note FROM items WHERE id = 1").fetchone(), ("kept",))

    def test_a_statement_that_fails_to_plan_leaves_the_test_usable(self):
        with self.assertRaises(psycopg.errors.SyntaxError):
            self.explain("SELEC * FROM items")
        with self.assertRaises(psycopg.errors.UndefinedTable):
            self.assertUsesIndex("SELECT * FROM missing_table", None, "x")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM items").fetchone(), (ROWS,))


class PlanReadingTests(unittest.TestCase):
    """Plan nodes as PostgreSQL writes them in JSON (no server needed)."""

    def test_every_node_reading_an_index_is_found(self):
        plan = {"Plan": {"Node Type": "Nested Loop", "Plans": [
            {"Node Type": "Index Only Scan", "Relation Name": "a", "Index Name": "a_idx", "Index Cond": "(x = 1)"},
            {"Node Type": "Bitmap Heap Scan", "Relation Name": "b", "Recheck Cond": "(y = 2)", "Plans": [
                {"Node Type": "BitmapAnd", "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "b_y_idx", "Index Cond": "(y = 2)"},
                    {"Node Type": "Bitmap Index Scan", "Index Name": "b_z_idx"}]}]},
            {"Node Type": "Limit",
             "Plans": [{"Node Type": "Index Scan", "Relation Name": "c", "Index Name": "c_pkey"}]},
            {"Node Type": "Index Scan", "Relation Name": "d", "Index Name": "d_pkey", "Filter": "(v = 1)"},
        ]}}
        self.assertEqual(index_scans(plan), [("a_idx", "a", True), ("b_y_idx", "b", True), ("b_z_idx", "b", False),
                                             ("c_pkey", "c", True), ("d_pkey", "d", False)])


if __name__ == "__main__":
    unittest.main()
