"""Async test cases run by tests.test_async: a leak through an own AsyncConnection, an N+1, parallel workers."""

import psycopg

import tddkit


class LeaksThroughItsOwnConnection(tddkit.AsyncTDDTestCase):
    async def test_commits_on_an_own_connection(self):
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as own:
            await own.execute("INSERT INTO users (email, name) VALUES ('leak@example.com', 'L')")

    async def test_after_the_leak_the_database_is_clean(self):
        cursor = await self.conn.execute("SELECT count(*) FROM users")
        self.assertEqual(await cursor.fetchone(), (0,))


class RepeatsAQuery(tddkit.AsyncTDDTestCase):
    async def test_one_lookup_per_id(self):
        for user_id in range(12):
            await self.conn.execute("SELECT name FROM users WHERE id = %s", (user_id,))


class Many(tddkit.AsyncTDDTestCase):
    async def test_0(self):
        await self.conn.execute("INSERT INTO users (email, name) VALUES ('m0@example.com', 'M')")

    async def test_1(self):
        await self.conn.execute("INSERT INTO users (email, name) VALUES ('m1@example.com', 'M')")

    async def test_2(self):
        cursor = await self.conn.execute("SELECT count(*) FROM users")
        self.assertEqual(await cursor.fetchone(), (0,))


class ManyMore(Many):
    pass


class UsesWorkerThreads(tddkit.AsyncTDDTestCase):
    async def test_to_thread(self):
        import asyncio

        import anyio.to_thread

        await asyncio.to_thread(sum, [1, 2])
        await anyio.to_thread.run_sync(sum, [1, 2])  # what FastAPI does for a sync dependency or endpoint
