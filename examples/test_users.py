"""Users: the constraints of the users table, shared data, temp tables, and isolation.

Shows ``setUpTestData`` for rows every test of a class sees, ``assertRaises``
around a statement that violates a constraint, ``with self.conn.transaction():``
to carry on after an expected error, ``create_temp_table`` with a built-in and a
class-level template, and that nothing one test writes is seen by the next.
"""

import psycopg
import tddkit

from examples.factories import create_user


class UserConstraintTests(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.alice_id = create_user(cls.conn, "alice@example.com", "Alice")

    def test_user_from_setup_is_visible(self):
        row = self.conn.execute("SELECT email, name FROM users WHERE id = %s", (self.alice_id,)).fetchone()
        self.assertEqual(row, ("alice@example.com", "Alice"))

    def test_duplicate_email_is_rejected(self):
        with self.assertRaises(psycopg.errors.UniqueViolation):
            create_user(self.conn, "alice@example.com", "Another Alice")

    def test_email_without_at_sign_is_rejected(self):
        with self.assertRaises(psycopg.errors.CheckViolation):
            create_user(self.conn, "not-an-email", "Bob")

    def test_email_starting_with_at_sign_is_rejected(self):
        # The check is position('@' in email) > 1: something must come before the '@'.
        with self.assertRaises(psycopg.errors.CheckViolation):
            create_user(self.conn, "@example.com", "Bob")

    def test_name_is_required(self):
        with self.assertRaises(psycopg.errors.NotNullViolation):
            self.conn.execute("INSERT INTO users (email) VALUES ('bob@example.com')")

    def test_created_at_defaults_to_transaction_start(self):
        # now() is the start time of the transaction; the class's rows and the
        # test's rows are written in the same transaction, so they share it.
        bob_id = create_user(self.conn, "bob@example.com", "Bob")
        created, alice_created, started = self.conn.execute(
            "SELECT (SELECT created_at FROM users WHERE id = %s),"
            " (SELECT created_at FROM users WHERE id = %s), now()",
            (bob_id, self.alice_id),
        ).fetchone()
        self.assertEqual(created, started)
        self.assertEqual(alice_created, started)

    def test_savepoint_lets_the_test_continue_after_an_error(self):
        # Without the inner transaction the failed INSERT would abort the whole
        # test transaction and the next statement would fail too.
        with self.assertRaises(psycopg.errors.UniqueViolation):
            with self.conn.transaction():
                create_user(self.conn, "alice@example.com", "Duplicate")
        create_user(self.conn, "bob@example.com", "Bob")
        emails = [r[0] for r in self.fetch_all("SELECT email FROM users ORDER BY email")]
        self.assertEqual(emails, ["alice@example.com", "bob@example.com"])

    def test_email_lookup_is_case_sensitive(self):
        # The unique constraint compares text exactly: a differently-cased
        # address is a different user as far as the schema is concerned.
        create_user(self.conn, "ALICE@example.com", "Loud Alice")
        count = self.conn.execute("SELECT count(*) FROM users WHERE lower(email) = 'alice@example.com'").fetchone()[0]
        self.assertEqual(count, 2)


class IsolationTests(tddkit.TDDTestCase):
    """unittest runs a class's tests in name order, so test_1 runs before test_2."""

    @classmethod
    def setUpTestData(cls):
        cls.shared_id = create_user(cls.conn, "shared@example.com", "Shared")

    def test_1_writes_rows(self):
        create_user(self.conn, "only-in-test-1@example.com", "Temporary")
        self.conn.execute("UPDATE users SET name = 'Renamed' WHERE id = %s", (self.shared_id,))
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone()[0], 2)

    def test_2_sees_none_of_test_1s_writes(self):
        rows = self.fetch_all("SELECT email, name FROM users ORDER BY id")
        # Only the class's shared row, with its original name; the other
        # class's users (setUpTestData of UserConstraintTests) are gone too.
        self.assertEqual(rows, [("shared@example.com", "Shared")])

    def test_3_can_reuse_the_unique_email_test_1_inserted(self):
        create_user(self.conn, "only-in-test-1@example.com", "Again")
        count = self.conn.execute(
            "SELECT count(*) FROM users WHERE email = 'only-in-test-1@example.com'"
        ).fetchone()[0]
        self.assertEqual(count, 1)


class TempTableTests(tddkit.TDDTestCase):
    table_templates = {"audit_table": "id serial PRIMARY KEY, message text NOT NULL"}

    def test_1_builtin_user_table_template(self):
        name = self.create_temp_table("user_table")
        self.assertEqual(name, "user_table")
        inserted = self.insert_rows(name, [
            {"name": "Ann", "email": "ann@example.com"},
            {"name": "Ben", "email": "ben@example.com"},
        ])
        self.assertEqual(inserted, 2)
        self.assertEqual(self.fetch_all("SELECT name FROM user_table ORDER BY name"), [("Ann",), ("Ben",)])
        with self.assertRaises(psycopg.errors.UniqueViolation):
            self.insert_rows(name, [{"name": "Ann again", "email": "ann@example.com"}])

    def test_2_temp_table_rows_are_gone_after_the_test(self):
        # The table itself may be kept on the pooled connection (tddkit's schema
        # cache saves the DDL), but nothing an earlier test wrote is left in it.
        self.create_temp_table("user_table")
        self.assertEqual(self.fetch_all("SELECT count(*) FROM user_table"), [(0,)])
        self.insert_rows("user_table", [{"name": "Cy", "email": "ann@example.com"}])
        self.assertEqual(self.fetch_all("SELECT id FROM user_table"), [(1,)])

    def test_class_template_under_another_name(self):
        name = self.create_temp_table("audit_table", "login_audit")
        self.insert_rows(name, [{"message": "alice logged in"}])
        self.assertEqual(self.fetch_all("SELECT message FROM login_audit"), [("alice logged in",)])

    def test_unknown_template_is_reported(self):
        with self.assertRaises(ValueError) as caught:
            self.create_temp_table("no_such_template")
        self.assertIn("audit_table", str(caught.exception))
