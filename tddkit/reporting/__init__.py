"""What a run tells: the report, statistics, alerts, JSON and JUnit, baselines, regressions, the gate."""
