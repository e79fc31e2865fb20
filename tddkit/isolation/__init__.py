"""The savepoint engine, runner-agnostic: class transactions, test scopes, guarded and joined connections."""
