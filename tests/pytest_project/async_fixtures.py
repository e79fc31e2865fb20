import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")
pytest.importorskip("greenlet")
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

pytestmark = pytest.mark.asyncio


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]


async def count(conn):
    cursor = await conn.execute("SELECT count(*) FROM users")
    return (await cursor.fetchone())[0]


async def test_writes_on_the_async_connection(tddkit_async_conn):
    await tddkit_async_conn.execute("INSERT INTO users (email, name) VALUES ('a@example.org', 'a')")
    assert await count(tddkit_async_conn) == 1


async def test_the_pool_and_a_session_share_the_test(tddkit_async_pool, tddkit_async_sqlalchemy_session,
                                                     tddkit_async_conn, tddkit_conn):
    async with tddkit_async_pool.connection() as conn:
        await conn.execute("INSERT INTO users (email, name) VALUES ('pool@example.org', 'p')")
    tddkit_async_sqlalchemy_session.add(User(email="orm@example.org", name="o"))
    await tddkit_async_sqlalchemy_session.commit()
    assert await count(tddkit_async_conn) == 2
    assert tddkit_conn.execute("SELECT count(*) FROM users").fetchone() == (2,)  # sync and async: one connection


async def test_nothing_left(tddkit_async_conn):
    assert await count(tddkit_async_conn) == 0


async def test_a_duplicate_fails_and_the_session_recovers(tddkit_async_sqlalchemy_session):
    session = tddkit_async_sqlalchemy_session
    session.add(User(email="dup@example.org", name="one"))
    await session.commit()
    session.add(User(email="dup@example.org", name="two"))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await session.commit()
    await session.rollback()
    assert await session.scalar(sqlalchemy.select(sqlalchemy.func.count()).select_from(User)) == 1
