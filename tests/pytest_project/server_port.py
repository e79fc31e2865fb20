import os

import tddkit


class OnTheGivenServer(tddkit.TDDTestCase):
    def test_runs_on_the_server_of_tddkit_dsn(self):
        found = self.conn.execute("SELECT current_setting('port'), current_setting('data_directory')").fetchone()
        self.assertEqual(found, (os.environ["WANT_PORT"], os.environ["WANT_DATA_DIRECTORY"]))
