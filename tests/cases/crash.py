"""Tests that kill their own process, for the crashed-worker checks."""

import ctypes
import os

import tddkit


class ExitsHard(tddkit.TDDTestCase):
    def test_a_before(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))

    def test_b_exits(self):
        os._exit(3)

    def test_c_after(self):
        self.assertEqual(self.conn.execute("SELECT 2").fetchone(), (2,))


class Segfaults(tddkit.TDDTestCase):
    def test_segfault(self):
        ctypes.string_at(0)


class Survivor(tddkit.TDDTestCase):
    def test_still_runs(self):
        self.assertEqual(self.conn.execute("SELECT 3").fetchone(), (3,))
