"""AsyncTDDTestCase and the async pool: asyncio tests on the test's connection, isolated and measured."""

import importlib.util
import json
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tests.support import problems_by_name, run_cli, run_suite, suite_of

COUNT = "SELECT count(*) FROM users"
HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None and importlib.util.find_spec("greenlet")

if HAVE_SQLALCHEMY:
    import sqlalchemy

    from examples.shop.orm import User


async def emails(conn) -> list[str]:
    cursor = await conn.execute("SELECT email FROM users ORDER BY email")
    return [row[0] for row in await cursor.fetchall()]


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

    async def test_putconn_of_a_connection_returned_twice_is_refused(self):
        conn = await self.pool.getconn()
        await self.pool.putconn(conn)
        with self.assertRaisesRegex(tddkit.TddkitError, r"did not lend \(or returned twice\)"):
            await self.pool.putconn(conn)

    async def test_nothing_is_left(self):
        self.assertEqual(await count(self.conn), 0)


class SyncPoolReturnTests(tddkit.TDDTestCase):
    def test_putconn_of_a_connection_returned_twice_is_refused(self):
        conn = self.pool.getconn()
        self.pool.putconn(conn)
        with self.assertRaisesRegex(tddkit.TddkitError, r"did not lend \(or returned twice\)"):
            self.pool.putconn(conn)


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class AsyncSQLAlchemyTests(tddkit.AsyncTDDTestCase):
    async def test_session_commit_integrity_error_rollback_and_begin_nested(self):
        session = await self.sqlalchemy_async_session()
        session.add(User(email="ada@example.com", name="Ada"))
        await session.commit()
        session.add(User(email="ada@example.com", name="again"))
        with self.assertRaises(sqlalchemy.exc.IntegrityError):
            await session.commit()
        await session.rollback()
        async with session.begin_nested():
            session.add(User(email="nested@example.com", name="N"))
        nested = await session.begin_nested()
        session.add(User(email="undone@example.com", name="U"))
        await session.flush()
        await nested.rollback()
        await session.commit()
        self.assertEqual(await emails(self.conn), ["ada@example.com", "nested@example.com"])

    async def test_an_engine_connection_commits_and_a_session_reads_it(self):
        engine = await self.sqlalchemy_async_engine()
        async with engine.begin() as connection:
            await connection.execute(sqlalchemy.text("INSERT INTO users (email, name) VALUES ('e@example.com', 'E')"))
        session = await self.sqlalchemy_async_session()
        found = await session.scalar(sqlalchemy.select(User.email))
        self.assertEqual(found, "e@example.com")

    async def test_nothing_is_left(self):
        self.assertEqual(await emails(self.conn), [])

    async def test_the_engine_is_one_per_run_and_its_setup_is_not_counted(self):
        self.assertIs(await self.sqlalchemy_async_engine(), await self.sqlalchemy_async_engine())
        connection = await self.sqlalchemy_async_connection()
        with self.assertNumQueries(1):
            await connection.execute(sqlalchemy.text("SELECT 1"))



class AsyncRunTests(unittest.TestCase):
    def test_a_commit_on_an_own_async_connection_fails_its_test_and_the_next_test_is_clean(self):
        from tests.cases import async_cases

        result = run_suite(suite_of(async_cases.LeaksThroughItsOwnConnection))
        self.assertEqual(list(problems_by_name(result)), ["test_commits_on_an_own_connection"], result.output)
        self.assertIn("IsolationError", result.errors[0][1])
        self.assertIn("public.users", result.errors[0][1])

    def test_an_n_plus_one_in_an_async_test_is_an_alert_at_its_line(self):
        from tests.cases import async_cases

        result = run_suite(suite_of(async_cases.RepeatsAQuery))
        self.assertEqual(problems_by_name(result), {}, result.output)
        (metrics,) = result.test_metrics
        (repeated,) = metrics.repeated_statements
        self.assertEqual((repeated["calls"], Path(repeated["file"]).name), (12, "async_cases.py"), repeated)

    def test_an_event_loops_idle_worker_threads_are_not_threads_the_test_left_running(self):
        from tests.cases import async_cases

        result = run_suite(suite_of(async_cases.UsesWorkerThreads))
        self.assertEqual(problems_by_name(result), {}, result.output)

    def test_parallel_workers_run_async_tests_with_their_metrics(self):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "run.json"
            done = run_cli(["run", "tests.cases.async_cases.Many", "tests.cases.async_cases.ManyMore",
                            "--parallel", "2", "--no-report", "--json", str(report)])
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            tests = json.loads(report.read_text())["tests"]
        self.assertEqual(len(tests), 6)
        self.assertTrue(all(t["query_count"] >= 1 and t["outcome"] == "passed" for t in tests), tests)


if __name__ == "__main__":
    unittest.main()
