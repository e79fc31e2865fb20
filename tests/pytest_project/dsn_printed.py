import subprocess
import sys

import psycopg

import tddkit

CONNECT = "import psycopg, sys; print(psycopg.connect(sys.argv[1]).execute('SELECT current_user').fetchone()[0])"


def connects(dsn):
    """The DSN connects, here and in a subprocess."""
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app",)
    done = subprocess.run([sys.executable, "-c", CONNECT, dsn], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "app\n"), done.stderr


def test_the_fixture(tddkit_dsn):
    connects(tddkit_dsn)
    print("printed:", tddkit_dsn)
    assert tddkit_dsn == "another DSN"


class SelfDsn(tddkit.TDDTestCase):
    def test_self_dsn(self):
        connects(self.dsn)
        print("printed:", self.dsn)
        self.assertEqual(self.dsn, "another DSN")
