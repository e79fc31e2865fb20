"""The session under pytest: the plugin's settings for every test, DSNs without passwords, an early start."""

import shutil
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tests.support import app_url, password_server
from tests.test_pytest_plugin import PROJECT_FILES, PytestProject, output


def server_facts(dsn: str) -> tuple[str, str]:
    """The port and data directory of the server ``dsn`` reaches."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT current_setting('port'), current_setting('data_directory')").fetchone()


class PluginSettingsTests(unittest.TestCase):
    def test_a_tddkit_testcase_runs_on_the_server_of_tddkit_dsn(self):
        port, data_directory = server_facts(tddkit.get_session().server_dsn)
        project = PytestProject(self, "server_port")
        done = project.pytest("-q", shared_server=True, WANT_PORT=port, WANT_DATA_DIRECTORY=data_directory)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("1 passed", done.stdout)
        self.assertEqual(project.leftovers(), [])

    def test_a_session_started_before_the_plugins_with_other_settings_is_one_line_and_exit_2(self):
        project = PytestProject(self, "server_port")
        shutil.copy(PROJECT_FILES / "session_first.py", project.root / "conftest.py")
        done = project.pytest("-q", shared_server=True, WANT_PORT="", WANT_DATA_DIRECTORY="")
        self.assertEqual(done.returncode, 2, output(done))
        errors = [line for line in output(done).splitlines() if "tddkit: error:" in line]
        self.assertEqual(len(errors), 1, output(done))
        self.assertIn("tddkit: error: this process's tddkit session started with other settings (they differ in "
                      "dsn); a process has one session: start it once, with the settings it needs (under pytest it "
                      "is the plugin's, from the config file and --tddkit-dsn: nothing may start one before it)",
                      errors[0])
        self.assertIn("no tests ran", done.stdout)
        self.assertNotIn("Traceback", output(done))
        self.assertEqual(project.leftovers(), [])


class PasswordTests(unittest.TestCase):
    def test_the_dsns_handed_out_carry_no_password_and_connect(self):
        url = app_url(password_server(self))
        project = PytestProject(self, "dsn_printed")
        for how, args, env in (("--tddkit-dsn", [f"--tddkit-dsn={url}"], {}),
                               ("TDDKIT_DATABASE_URL", [], {"TDDKIT_DATABASE_URL": url})):
            with self.subTest(how):
                junit = project.root / "junit.xml"
                done = project.pytest("-l", "-rA", f"--junitxml={junit}", *args, **env)
                out, xml = output(done), junit.read_text()
                self.assertIn("2 failed", done.stdout, out)
                self.assertIn("AssertionError: assert 'user=app ", out)  # the fixture's diff
                self.assertIn("AssertionError: 'user=app ", out)  # self.dsn's
                self.assertEqual(out.count("printed: user=app "), 2, out)
                self.assertIn("passfile=", out)
                for text in (out, xml):
                    self.assertIn("another DSN", text)
                    self.assertNotIn("right-password", text)
                self.assertEqual(project.leftovers(), [], "the passfile's directory is removed")
                junit.unlink()


class EarlyStartTests(unittest.TestCase):
    def test_the_session_starts_while_a_test_module_imports(self):
        project = PytestProject(self, "early_start")
        done = project.pytest("-q", shared_server=True, SERVER_DSN=tddkit.get_session().server_dsn)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("1 passed", done.stdout)
        self.assertEqual(project.leftovers(), [])

    def test_nothing_starts_for_a_run_whose_tests_use_no_tddkit_fixture(self):
        project = PytestProject(self, "mixed", "no_tddkit")
        other_module = project.pytest("-q", "test_no_tddkit.py")  # test_mixed.py, not run, names tddkit_conn
        self.assertEqual(other_module.returncode, 0, output(other_module))
        imported = (project.root / "test_no_tddkit.py.imported").read_text().split()
        self.assertNotIn("tddkit.session.session", imported)
        deselected = project.pytest("-q", "-k", "needs_no_database", NOTHING_STARTED="1")
        self.assertEqual(deselected.returncode, 0, output(deselected))
        self.assertIn("1 passed, 3 deselected", deselected.stdout)
        shutil.copy(PROJECT_FILES / "deselect_tddkit.py", project.root / "conftest.py")
        by_a_plugin = project.pytest("-q", "test_mixed.py")  # names tddkit_conn: started early, stopped unused
        self.assertEqual(by_a_plugin.returncode, 0, output(by_a_plugin))
        self.assertIn("1 passed", by_a_plugin.stdout)
        self.assertEqual(project.leftovers(), [])


if __name__ == "__main__":
    unittest.main()
