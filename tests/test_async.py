"""AsyncTDDTestCase and the async pool: asyncio tests on the test's connection, isolated and measured."""

import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit

COUNT = "SELECT count(*) FROM users"


async def count(conn) -> int:
    cursor = await conn.execute(COUNT)
    return (await cursor.fetchone())[0]


class AsyncIsolationTests(tddkit.AsyncTDDTestCase):
    @classmethod
    async def asyncSetUpTestData(cls):
        await cls.conn.execute("INSERT INTO users (email, name) VALUES ('class@example.com', 'C')")

    async def test_a_writes(self):
        self.assertIsInstance(self.conn, psycopg.AsyncConnection)
        await self.conn.execute("INSERT INTO users (email, name) VALUES ('a@example.com', 'A')")
        self.assertEqual(await count(self.conn), 2)

    async def test_b_sees_only_the_class_data(self):
        self.assertEqual(await count(self.conn), 1)

    async def test_commit_is_refused(self):
        with self.assertRaises(tddkit.IsolationError):
            await self.conn.commit()
        with self.assertRaises(tddkit.IsolationError):
            await self.conn.execute("COMMIT")

    async def test_statements_are_counted(self):
        with self.assertNumQueries(2):
            await self.conn.execute("SELECT 1")
            await count(self.conn)

    def test_a_sync_test_still_runs(self):
        self.assertEqual(self.fetch_all(COUNT), [(1,)])


class AsyncPoolTests(tddkit.AsyncTDDTestCase):
    async def test_a_block_commits_within_the_test_and_an_error_rolls_it_back(self):
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO users (email, name) VALUES ('kept@example.com', 'K')")
        with self.assertRaises(LookupError):
            async with self.pool.connection() as conn:
                await conn.execute("INSERT INTO users (email, name) VALUES ('undone@example.com', 'U')")
                raise LookupError("the app failed")
        self.assertEqual(await count(self.conn), 1)

    async def test_getconn_commit_rollback_putconn(self):
        conn = await self.pool.getconn()
        await conn.execute("INSERT INTO users (email, name) VALUES ('one@example.com', '1')")
        await conn.commit()
        await conn.execute("INSERT INTO users (email, name) VALUES ('two@example.com', '2')")
        await conn.rollback()
        await conn.execute("INSERT INTO users (email, name) VALUES ('three@example.com', '3')")
        await self.pool.putconn(conn)
        cursor = await self.conn.execute("SELECT email FROM users ORDER BY email")
        self.assertEqual(await cursor.fetchall(), [("one@example.com",)])

    async def test_nothing_is_left(self):
        self.assertEqual(await count(self.conn), 0)


if __name__ == "__main__":
    unittest.main()
