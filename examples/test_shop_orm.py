"""The shop on the SQLAlchemy ORM: the application's own sessionmaker, bound to the test's transaction.

Needs SQLAlchemy 2 (``pip install 'tddkit[sqlalchemy]'``); skipped without it.
"""

import importlib.util
import unittest

import tddkit

HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None

if HAVE_SQLALCHEMY:
    import sqlalchemy.exc

    from examples.shop import orm


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed (pip install 'tddkit[sqlalchemy]')")
class ShopOrmTests(tddkit.TDDTestCase):
    def setUp(self):
        # The application's own sessionmaker, pointed at the test's connection for this test.
        orm.Session.configure(bind=self.sqlalchemy_connection(), join_transaction_mode="create_savepoint")
        self.addCleanup(orm.Session.configure, bind=None)

    def test_sign_up_commits_and_the_test_sees_the_user(self):
        user_id = orm.sign_up("ada@example.com", "Ada")
        self.assertEqual(self.conn.execute("SELECT name FROM users WHERE id = %s", (user_id,)).fetchone(), ("Ada",))

    def test_the_user_of_the_previous_test_is_gone(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))

    def test_a_duplicate_email_fails_and_the_session_recovers_after_rollback(self):
        session = self.sqlalchemy_session()
        session.add(orm.User(email="dup@example.com", name="one"))
        session.commit()
        session.add(orm.User(email="dup@example.com", name="two"))
        with self.assertRaises(sqlalchemy.exc.IntegrityError):
            session.commit()
        session.rollback()
        self.assertEqual(session.scalar(sqlalchemy.select(sqlalchemy.func.count(orm.User.id))), 1)

    def test_begin_nested_rolls_back_to_its_savepoint(self):
        session = self.sqlalchemy_session()
        session.add(orm.Product(sku="LAMP", name="Lamp", price=10, stock=1))
        session.commit()
        with session.begin_nested() as nested:
            session.add(orm.Product(sku="DESK", name="Desk", price=90, stock=1))
            session.flush()
            nested.rollback()
        self.assertEqual(session.scalars(sqlalchemy.select(orm.Product.sku)).all(), ["LAMP"])

    def test_restock_updates_and_commits(self):
        self.conn.execute("INSERT INTO products (sku, name, price, stock) VALUES ('MUG', 'Mug', 2.5, 1)")
        self.assertEqual(orm.restock("MUG", 4), 5)
        self.assertEqual(self.conn.execute("SELECT stock FROM products WHERE sku = 'MUG'").fetchone(), (5,))
