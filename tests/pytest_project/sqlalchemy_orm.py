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
