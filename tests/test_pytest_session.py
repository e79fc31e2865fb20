"""The session under pytest: DSNs without passwords."""

import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from tests.support import app_url, password_server
from tests.test_pytest_plugin import PytestProject, output


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
                self.assertEqual(out.count("AssertionError: assert 'user=app "), 1, out)  # the fixture's diff
                self.assertEqual(out.count("AssertionError: 'user=app "), 1, out)  # self.dsn's
                self.assertEqual(out.count("printed: user=app "), 2, out)
                self.assertIn("passfile=", out)
                for text in (out, xml):
                    self.assertIn("another DSN", text)
                    self.assertNotIn("right-password", text)
                self.assertEqual(project.leftovers(), [], "the passfile's directory is removed")
                junit.unlink()


if __name__ == "__main__":
    unittest.main()
