"""How ``watch`` follows the schema: the files whose change rebuilds the template, and the rebuild after a save."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ..errors import ServerError, TddkitError
from ..session.session import Session
from .tree import WatchedTree, purge_project_modules


class WatchedSchema:
    """The schema's files (schema files, ``schema_inputs``, the hook's module, the Alembic environment and the
    modules it imports), and whether the last save of them failed to build."""

    def __init__(self, tree: WatchedTree) -> None:
        self.tree = tree
        self.paths: set[str] = set()
        #: Alembic's script directories: a new revision there changes the schema too.
        self.dirs: tuple[str, ...] = ()
        #: The last change could not be built: the next save of the schema runs again, whatever it holds.
        self.failed = False

    def follow(self, session: Session) -> None:
        """Note the files of ``session``'s schema."""
        source = session._schema
        if source is None:
            self.paths = set()
            return
        paths = {os.path.realpath(p) for p in source.watched}
        purge_project_modules(self.tree)
        self.paths = paths
        self.dirs = tuple(os.path.realpath(d) + os.sep for d in source.alembic.script_dirs) if source.alembic else ()

    def check(self, session: Session, paths: list[str], before_rebuild: Callable[[], None]) -> bool | None:
        """Rebuild the template when ``paths`` changed the schema: True to run everything (rebuilt, or back to
        the current template after a change that failed), False if unchanged or not touched, None if it cannot
        be built (the error is shown; watching goes on). ServerError or psycopg's OperationalError: the server
        was lost, not the schema."""
        settings = session.settings
        if not self.paths.intersection(paths) and not any(p.startswith(self.dirs) for p in paths) and not (
                settings.schema_inputs and any(not p.endswith(".py") for p in paths)):
            return False
        database = session._database
        try:
            source = session._schema_source()
            if session._template is not None and source.template_name == session._template.name:
                failed, self.failed = self.failed, False
                return failed
            before_rebuild()  # e.g. end the child connected to the database about to be cloned again
            template = session._switch_template(source)  # held while this session uses it
            if database is not None:
                database.template = template.name
                database.recreate()
                database.close_pool()
            session._schema, session._template = source, template
            self.failed = False
            print(f"\ntddkit: schema changed: {template.describe()}", file=sys.stderr)
            return True
        except ServerError:
            raise
        except TddkitError as exc:
            self.failed = True
            print(f"\ntddkit: error: {exc} (still watching: save a fix)", file=sys.stderr)
            return None
        finally:
            self.follow(session)
