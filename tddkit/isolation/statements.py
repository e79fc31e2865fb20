"""Screening a test's SQL for what would break its isolation (ending the transaction, tddkit's savepoints), and for
what outlives its rollback or changes what prepared statements mean (PREPARE, DDL, SET).

Only statements that start with one of a few keywords are looked at (a
``str.startswith`` on the first characters), and what a text was found to be
is remembered: a statement run again costs one dictionary lookup. Statements
built with ``psycopg.sql`` are screened as the text they compose to.
"""

from __future__ import annotations

from typing import Any

ENDS = "ends"  # ends (or prepares) the test's transaction
RESERVED = "reserved"  # uses a savepoint name tddkit owns
PREPARED = "prepared"  # PREPARE name: survives the rollback, deallocated after the test
#: May change the objects or the search path prepared statements were planned for (DDL, SET, a DO block, a procedure):
#: psycopg's prepared statements are dropped now and after the rollback undoes it.
SCHEMA = "schema"
#: Kinds of a savepoint statement of the test's (its detail is the savepoint's name as PostgreSQL knows it).
SAVEPOINT_KINDS = ("SAVEPOINT", "RELEASE", "ROLLBACK")

_WATCHED = ("COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE", "SAVEPOINT", "RELEASE")
_SCHEMA_WORDS = ("CREATE", "ALTER", "DROP", "SET", "RESET", "DISCARD", "DO", "CALL", "IMPORT")
_STARTS = _WATCHED + _SCHEMA_WORDS
_RESERVED_PREFIX = "TDDKIT_"


def _words(head: str) -> list[str]:
    return head.replace("(", " ").replace(")", " ").replace(";", " ").split()


def _identifier(word: str) -> str:
    """A name as PostgreSQL knows it: quoted as written, else folded to lower case."""
    return word[1:-1].replace('""', '"') if word.startswith('"') and word.endswith('"') else word.lower()


#: Screened texts (str or bytes) and what ``screen`` found: a statement run again costs one lookup.
_screened: dict[str | bytes, tuple[str, str] | None] = {}
_SCREENED_MAX, _SCREENED_TEXT_LIMIT = 10_000, 2_000


def screen(query: Any) -> tuple[str, str] | None:
    """(kind, detail) for a statement tddkit must act on, else None; ``detail`` is the statement's start
    (or, for PREPARE, the statement's name as written)."""
    text_type = type(query)
    if text_type is str or text_type is bytes:
        try:
            return _screened[query]
        except KeyError:
            found = _screen(query)
            if len(query) <= _SCREENED_TEXT_LIMIT:
                if len(_screened) >= _SCREENED_MAX:
                    _screened.clear()
                _screened[query] = found
            return found
    return _screen(query)


def _screen(query: Any) -> tuple[str, str] | None:
    if isinstance(query, bytes):
        query = query.decode(errors="replace")
    elif not isinstance(query, str):
        return None
    text = query.lstrip(" \t\r\n;(")
    head = text[:80].upper()
    if not head.startswith(_STARTS):
        return None
    words = _words(head)
    first = words[0]
    if first in _SCHEMA_WORDS:
        return SCHEMA, first
    if first not in _WATCHED:
        return None  # ENDING, COMMITTED, ... : another word
    second = words[1] if len(words) > 1 else ""
    if first in ("SAVEPOINT", "RELEASE") or (first == "ROLLBACK" and second == "TO"):
        index, name = next(((i, w) for i, w in enumerate(words[1:], 1) if w not in ("TO", "SAVEPOINT")), (0, ""))
        if name.strip('"').startswith(_RESERVED_PREFIX):
            return RESERVED, text[:40]
        return (first, _identifier(_words(text)[index])) if index else None
    if first == "PREPARE":
        if second == "TRANSACTION":
            return ENDS, text[:40]
        return (PREPARED, _words(text)[1]) if second else None
    if first == "COMMIT" and second == "PREPARED" or first == "ROLLBACK" and second == "PREPARED":
        return None  # ends some other (prepared) transaction, not this one
    if first == "ABORT" and second == "TO":
        return None
    return ENDS, text[:40]
