"""The FastAPI service tested through its HTTP interface, each test rolled back.

Async endpoints through ``httpx.AsyncClient`` in an AsyncTDDTestCase; the sync
one through FastAPI's ``TestClient`` in a TDDTestCase. Needs ``fastapi``,
``httpx`` and ``tddkit[sqlalchemy]``; skipped without them.
"""

import importlib.util
import unittest

import tddkit

HAVE_FASTAPI = all(importlib.util.find_spec(name) for name in ("fastapi", "httpx", "sqlalchemy", "greenlet"))

if HAVE_FASTAPI:
    import httpx
    from fastapi.testclient import TestClient

    from examples.shop.api import app, get_session, get_sync_session


@unittest.skipUnless(HAVE_FASTAPI, "fastapi, httpx or SQLAlchemy asyncio is not installed")
class AsyncApiTests(tddkit.AsyncTDDTestCase):
    async def asyncSetUp(self):
        # A session on the test's connection (closed after the test), made as the app's own sessionmaker does.
        session = await self.sqlalchemy_async_session(expire_on_commit=False)

        async def test_session():
            yield session

        app.dependency_overrides[get_session] = test_session
        self.addCleanup(app.dependency_overrides.clear)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")
        self.addAsyncCleanup(self.client.aclose)

    async def test_create_then_read_a_user(self):
        created = await self.client.post("/users", json={"email": "ada@example.com", "name": "Ada"})
        self.assertEqual(created.status_code, 201, created.text)
        read = await self.client.get(f"/users/{created.json()['id']}")
        self.assertEqual(read.json()["name"], "Ada")

    async def test_a_taken_email_is_409_and_the_session_recovers(self):
        await self.client.post("/users", json={"email": "bob@example.com", "name": "Bob"})
        again = await self.client.post("/users", json={"email": "bob@example.com", "name": "Bob"})
        self.assertEqual(again.status_code, 409)
        other = await self.client.post("/users", json={"email": "eve@example.com", "name": "Eve"})
        self.assertEqual(other.status_code, 201, other.text)

    async def test_the_previous_tests_users_are_gone(self):
        cursor = await self.conn.execute("SELECT count(*) FROM users")
        self.assertEqual(await cursor.fetchone(), (0,))


@unittest.skipUnless(HAVE_FASTAPI, "fastapi, httpx or SQLAlchemy asyncio is not installed")
class SyncApiTests(tddkit.TDDTestCase):
    def setUp(self):
        session = self.sqlalchemy_session()
        app.dependency_overrides[get_sync_session] = lambda: session
        self.addCleanup(app.dependency_overrides.clear)
        self.client = TestClient(app)

    def test_count_sees_the_tests_rows(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('x@example.com', 'X')")
        self.assertEqual(self.client.get("/users-count").json(), {"count": 1})
