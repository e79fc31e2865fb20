"""pytest says what tddkit did, as ``python -m tddkit run`` does in its first lines: the config file in the header,
the server and the schema template (built and why, or reused) before the first test, the template in the closing
summary; a session that cannot start is one line and exit status 2."""

import re
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tests.support import drop_project_templates, project_templates
from tests.test_pytest_plugin import PytestProject, output


class HeaderTests(unittest.TestCase):
    def test_the_header_names_the_config_and_whether_the_template_was_built_or_reused_and_why(self):
        project = PytestProject(self, "module_data")
        self.addCleanup(drop_project_templates, tddkit.get_session().server_dsn, project.root)
        said = []
        for edit in (None, None, "CREATE TABLE more (id int);\n"):
            if edit:
                with open(project.root / "schema.sql", "a") as fh:
                    fh.write(edit)
            done = project.pytest(shared_server=True)  # neither -v nor -q
            self.assertEqual(done.returncode, 0, output(done))
            header, _, rest = done.stdout.partition("\ntest_module_data.py ")
            self.assertIn(f"tddkit: config: {project.root}/pyproject.toml", header)
            template = re.search(r"^tddkit: .*; schema template \S+ (built in [\d.]+ ms \(.*?\)|reused \(unchanged)",
                                 header, re.MULTILINE)
            closing = re.search(r"^tddkit: schema template \S+ (built in [\d.]+ ms \(.*?\)|reused \(unchanged)",
                                rest, re.MULTILINE)
            said.append([re.sub(r" in [\d.]+ ms", "", m.group(1)) if m else None for m in (template, closing)])
        self.assertEqual(said, [["built (first build here)"] * 2, ["reused (unchanged"] * 2,
                                ["built (changed: schema.sql)"] * 2], output(done))

    def test_a_session_that_cannot_start_is_one_line_and_exit_2_before_any_test(self):
        project = PytestProject(self, "module_data")
        with open(project.root / "schema.sql", "a") as fh:
            fh.write("CREATE TABLE broken (x nosuchtype);\n")
        done = project.pytest("-q", shared_server=True)
        self.assertEqual(done.returncode, 2, output(done))
        errors = [line for line in output(done).splitlines() if "tddkit: error:" in line]
        self.assertEqual(len(errors), 1, output(done))
        self.assertIn(f'schema error in {project.root}/schema.sql:', errors[0])
        self.assertIn('type "nosuchtype" does not exist', errors[0])
        self.assertNotIn("Traceback", output(done))
        self.assertIn("no tests ran", done.stdout)
        self.assertEqual(project_templates(tddkit.get_session().server_dsn, project.root), [])


if __name__ == "__main__":
    unittest.main()
