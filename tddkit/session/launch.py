"""The session's embedded server: the binaries the settings name, launched from the cached cluster or snapshot."""

from __future__ import annotations

from ..config.settings import Settings
from ..server.binaries import find_binaries
from ..server.embedded import EmbeddedPostgres


def launch_embedded(settings: Settings, snapshot: str) -> EmbeddedPostgres:
    """The embedded server of ``settings``, launched from the snapshot holding template ``snapshot`` (else the
    cluster): copied and spawned, not yet waited for."""
    binaries = find_binaries(settings.pg_bindir, settings.pg_source, settings.cache_path)
    return EmbeddedPostgres(binaries, settings.cache_path).launch(snapshot=snapshot)
