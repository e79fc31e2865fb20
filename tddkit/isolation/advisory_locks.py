"""Session advisory locks a test takes: released after it, while the locks its scope's shared data took are kept.

A session-level advisory lock survives ``ROLLBACK TO SAVEPOINT``, so a lock a
test took on ``self.conn`` or ``self.pool`` would still be held in the next
test. The per-test rollback ends with ``RELEASE_ALL`` (one function call in
the same round trip). When the scope's shared data (setUpTestData, a module
fixture) holds advisory locks, they are the scope's: the rollback instead
releases only the other locks and takes back any of the scope's a test
released; the scope's go when it ends.
"""

from __future__ import annotations

from psycopg import pq

#: Appended to the per-test rollback when the scope holds no advisory locks.
RELEASE_ALL = b"; SELECT pg_advisory_unlock_all()"

#: Appended to a statement that sets the scope's savepoint: the advisory locks held at that point.
HELD = (b"; SELECT classid, objid, objsubid, mode = 'ShareLock' FROM pg_locks "
        b"WHERE locktype = 'advisory' AND pid = pg_backend_pid()")

#: (classid, objid, objsubid, shared) of a row of pg_locks.
Lock = tuple[int, int, int, bool]

_IS_HELD = ("EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.pid = pg_backend_pid() "
            "AND (p.classid::bigint, p.objid::bigint, p.objsubid::int, p.mode = 'ShareLock') = ({lock}))")

_RELEASE_OTHERS = """; DO $$
DECLARE
    l record;
    released boolean;
BEGIN
    FOR l IN SELECT classid::bigint AS c, objid::bigint AS o, objsubid::int AS s, mode = 'ShareLock' AS shared
             FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
               AND (classid::bigint, objid::bigint, objsubid::int, mode = 'ShareLock') NOT IN ({kept}) LOOP
        LOOP
            EXECUTE format('SELECT pg_advisory_unlock%s(%s)', CASE WHEN l.shared THEN '_shared' ELSE '' END,
                           CASE WHEN l.s = 1 THEN ((l.c << 32) | l.o)::text
                                ELSE (l.c - (l.c >> 31) * 4294967296) || ', ' || (l.o - (l.o >> 31) * 4294967296)
                           END) INTO released;
            EXIT WHEN NOT released OR NOT {is_held};  -- a lock held at transaction level cannot be released
        END LOOP;
    END LOOP;
{take_back}END $$"""


def held(result: pq.abc.PGresult) -> list[Lock]:
    """The locks in the result of a statement ending with ``HELD``."""
    return [(int(result.get_value(i, 0) or 0), int(result.get_value(i, 1) or 0), int(result.get_value(i, 2) or 0),
             result.get_value(i, 3) == b"t") for i in range(result.ntuples)]


def release_after_test(kept: list[Lock]) -> bytes:
    """What the per-test rollback appends: release every session advisory lock but ``kept`` (the scope's)."""
    if not kept:
        return RELEASE_ALL
    literals = ", ".join(_literal(lock) for lock in kept)
    take_back = "".join(
        f"    IF NOT {_IS_HELD.format(lock=_literal(lock))} THEN\n"
        f"        PERFORM pg_try_advisory_lock{'_shared' if lock[3] else ''}({_key(lock)});\n"
        "    END IF;\n" for lock in kept)
    is_held = _IS_HELD.format(lock="l.c, l.o, l.s, l.shared")
    return _RELEASE_OTHERS.format(kept=literals, is_held=is_held, take_back=take_back).encode()


def _literal(lock: Lock) -> str:
    classid, objid, objsubid, shared = lock
    return f"({classid}::bigint, {objid}::bigint, {objsubid}, {str(shared).lower()})"


def _key(lock: Lock) -> str:
    """The arguments of pg_advisory_lock that take ``lock``: one bigint key, or two int keys."""
    classid, objid, objsubid, _ = lock
    if objsubid == 1:
        key = (classid << 32) | objid
        return str(key - (1 << 64) if key >= 1 << 63 else key)
    return ", ".join(str(k - (1 << 32) if k >= 1 << 31 else k) for k in (classid, objid))
