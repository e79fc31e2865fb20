"""Where tddkit keeps its own files in a project by default (relative to the config file's directory)."""

#: The baseline written by --save-baseline and read by --compare when no file is named.
DEFAULT_BASELINE_PATH = ".tddkit/baseline.json"
#: Test durations of earlier runs (balancing --parallel and --shard).
DEFAULT_DURATIONS_PATH = ".tddkit/durations.json"
#: What the last schema template build was made of (file digests), so the next build can say what changed.
SCHEMA_RECORD_PATH = ".tddkit/schema.json"
