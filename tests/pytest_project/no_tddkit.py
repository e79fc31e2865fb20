import sys


def test_plain():
    assert 1 + 1 == 2


def test_records_what_was_imported():
    with open(__file__ + ".imported", "w") as fh:
        fh.write(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in ("tddkit", "psycopg"))))
