"""tddkit.output: table cells, the environment, and the one atomic JSON writer."""

import json
import math
import os
import stat
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.output import document_header, environment, format_number, format_table, json_safe, write_json

ENVIRONMENT_KEYS = ["python", "implementation", "platform", "machine", "cpu_count"]


class CellTests(unittest.TestCase):
    def test_numbers(self):
        self.assertEqual(format_number(None), "-")
        self.assertEqual(format_number(1.23456), "1.235")
        self.assertEqual(format_number(3.0, "count"), "3")
        self.assertEqual(format_number(2.5, "count"), "2.500")

    def test_table_aligns_text_left_and_numbers_right(self):
        lines = format_table(["name", "ms"], [["a", "1.000"], ["longer", "10.000"]]).splitlines()
        self.assertEqual(lines[2], "a        1.000")
        self.assertEqual(lines[3], "longer  10.000")

    def test_json_safe_replaces_nan_and_infinities_recursively(self):
        value = {"a": [1.0, math.nan, {"b": math.inf}], "c": (-math.inf, "x")}
        self.assertEqual(json_safe(value), {"a": [1.0, None, {"b": None}], "c": [None, "x"]})


class EnvironmentTests(unittest.TestCase):
    def test_one_description_in_every_document(self):
        self.assertEqual(list(environment()), ENVIRONMENT_KEYS)
        header = document_header(server="a server")
        self.assertEqual(list(header), ["tddkit_version", "created", "environment"])
        self.assertEqual(header["environment"], {**environment(), "server": "a server"})
        self.assertRegex(header["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


class WriteJsonTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(self.dir, "sub", "out.json")

    def test_writes_creates_parents_and_replaces_whole(self):
        write_json(self.path, {"b": 1, "a": [1, 2]})
        write_json(self.path, {"b": 2, "a": []}, indent=None, sort_keys=True)
        with open(self.path, encoding="utf-8") as fh:
            self.assertEqual(fh.read(), '{"a": [], "b": 2}\n')
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["out.json"])

    def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(self):
        write_json(self.path, {"kept": True})
        for bad in ({"nan": math.nan}, {"object": object()}):
            with self.assertRaises((ValueError, TypeError)):
                write_json(self.path, bad)
        with open(self.path, encoding="utf-8") as fh:
            self.assertEqual(json.load(fh), {"kept": True})
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["out.json"])

    def test_permissions_are_those_of_open_unless_a_mode_is_given(self):
        umask = os.umask(0o027)
        try:
            write_json(self.path, {})
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
            write_json(self.path, {}, mode=0o600)
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        finally:
            os.umask(umask)


if __name__ == "__main__":
    unittest.main()
