"""Temp-table templates and the SchemaCache: DDL saved, tables fresh for every test."""

import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.isolation.temp_tables import resolve_template, schema_cache
from tests.cases import temp_tables
from tests.support import run_suite, suite_of


class SchemaCacheTests(unittest.TestCase):
    def test_later_classes_hit_the_cache_and_see_a_fresh_table(self):
        before = schema_cache.stats()
        suite = unittest.TestSuite([suite_of(temp_tables.First), suite_of(temp_tables.Second),
                                    suite_of(temp_tables.Third)])
        result = run_suite(suite, show_report=True)
        self.assertTrue(result.wasSuccessful(), result.output)
        stats = schema_cache.since(before)
        self.assertEqual(stats["requests"], 9)
        self.assertLessEqual(stats["misses"], 3)  # First's two tests (if no earlier run kept it) + test_4
        self.assertGreaterEqual(stats["hits"], 6)
        self.assertEqual(stats["ddl_saved"], stats["hits"])
        self.assertRegex(result.output,
                         r"temp-table schema cache: 9 requests, \d+ hits, \d+ misses, \d+\.\d% efficiency")

    def test_unknown_template_lists_the_known_ones(self):
        with self.assertRaises(ValueError) as caught:
            resolve_template("nope", {"mine": "id int"})
        self.assertIn("mine, order_table, user_table", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
