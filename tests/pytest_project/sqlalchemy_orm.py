import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]


def test_commit_then_integrity_error_and_rollback(tddkit_sqlalchemy_session, tddkit_conn):
    session = tddkit_sqlalchemy_session
    session.add(User(email="one@example.org", name="one"))
    session.commit()
    session.add(User(email="one@example.org", name="dup"))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        session.commit()
    session.rollback()
    assert tddkit_conn.execute("SELECT count(*) FROM users").fetchone() == (1,)


def test_nothing_left(tddkit_conn):
    assert tddkit_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


# Upstream-style fixtures (a real library's conftest): tables made in a fixture on a connection that is never
# closed, sessions bound to it, run with filterwarnings = error.
metadata = sqlalchemy.MetaData()
things = sqlalchemy.Table("things", metadata, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
                          sqlalchemy.Column("name", sqlalchemy.String))
engines = []


@pytest.fixture
def connection(tddkit_sqlalchemy_engine):
    engines.append(tddkit_sqlalchemy_engine)
    connection = tddkit_sqlalchemy_engine.connect()  # never closed: the garbage collector finalizes it later
    with connection.begin():
        metadata.create_all(connection)
    return connection


@pytest.fixture
def session(connection):
    return sqlalchemy.orm.Session(bind=connection)


def test_tables_made_by_a_fixture_and_a_session_on_its_connection(connection, session):
    session.execute(things.insert().values(name="one"))
    session.commit()
    assert connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(things)).scalar() == 1


def test_the_previous_tests_table_is_gone_and_its_connection_collected(tddkit_conn):
    import gc

    assert gc.collect() > 0
    assert tddkit_conn.execute("SELECT to_regclass('things')").fetchone() == (None,)


def test_a_session_and_a_connection_share_the_test(tddkit_sqlalchemy_session, tddkit_sqlalchemy_connection):
    tddkit_sqlalchemy_session.add(User(email="both@example.org", name="both"))
    tddkit_sqlalchemy_session.commit()
    count = tddkit_sqlalchemy_connection.execute(sqlalchemy.text("SELECT count(*) FROM users")).scalar()
    assert count == 1


def test_sessions_take_options(tddkit_sqlalchemy_session_factory, tddkit_sqlalchemy_engine):
    engines.append(tddkit_sqlalchemy_engine)
    session = tddkit_sqlalchemy_session_factory(expire_on_commit=False)
    user = User(email="kept@example.org", name="kept")
    session.add(user)
    session.commit()
    assert "name" in user.__dict__  # not expired by the commit
    assert all(engine is engines[0] for engine in engines)  # one engine for the run: its dialect set up once
