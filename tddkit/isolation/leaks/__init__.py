"""The leak check: writes and schema changes that another connection commits to the test database during a test.

Such a change escaped the test's transaction, so later tests would see it.
After each test the check runs in the round trip of the per-test ``ROLLBACK
TO SAVEPOINT``; a change found fails the test with IsolationError naming it,
and the database is cloned again from the schema template, so later tests
are unaffected. ``leak_check = false`` turns it off. Two mechanisms, chosen
per server when the session starts:

Commit tracking (``commits``, ``state``): on a server with
``track_commit_timestamp = on`` (every server tddkit starts has it). Nothing
is added to the test database: its catalogs, ``information_schema`` and
``pg_dump --schema-only`` show exactly what the schema source built. The
class transaction exports its snapshot when it begins. Per test, the
rollback's round trip also reads ``pg_last_committed_xact()`` (one function
call, in the statement that releases the test's advisory locks; about 0.01
ms): the same transaction as before means nothing committed anywhere on the
server. Another one (a commit in any database of the server) makes the check
compare the database's committed state as of the class's start (the exported
snapshot) with its committed state now, on a connection of its own: schemas,
relations with their columns, defaults, constraints, indexes, triggers,
rules, policies and comments, functions, types, extensions, event triggers
and the other per-database catalogs that hold user objects (operators,
casts, collations, text search, foreign data, publications, default
privileges, large objects), and the rows of every table and materialized
view (which row versions are visible, and whether its storage was replaced,
as TRUNCATE does). It reads every table, so it costs tens of milliseconds
for a small database, more for a large one; it runs only after a commit. Not
seen: changes to sequences (nextval, setval: a rollback does not undo the
test's own either), to large objects' contents, to statistics (ANALYZE), and
to objects shared by the cluster (roles, databases, tablespaces); temporary
objects are no one else's and are ignored; a change undone again before the
check leaves nothing to find; a rewrite by VACUUM FULL or CLUSTER counts as
a write; the rows of a table locked exclusively (an ALTER TABLE not yet
committed) or that the role may not read are not read.

Triggers (``triggers``): on a server without ``track_commit_timestamp`` (a
``--dsn`` server, or a kept-running server started by an older tddkit).
These objects are added to the schema template, so tests see them: a schema
``tddkit_leak`` with a log table and functions, a statement-level trigger
``tddkit_leak_check`` on every table, and (as a superuser) event triggers
``tddkit_leak_ddl`` / ``tddkit_leak_drop``. Writes and DDL are logged unless
the session is a tddkit class transaction; the log is read per test. Not
seen: writes that bypass triggers (``session_replication_role = replica``),
temporary objects, and DDL when the role that built the template is not a
superuser.
"""
