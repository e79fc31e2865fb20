"""Two tests share a named resource, two do not; each logs when it ran (file named by TDDKIT_TEST_INTERVALS)."""

import os
import time

import pytest


def log_interval(name):
    start = time.time()
    time.sleep(0.4)
    with open(os.environ["TDDKIT_TEST_INTERVALS"], "a") as fh:
        fh.write(f"{name} {start} {time.time()}\n")


@pytest.mark.tddkit_resources("shared-file")
def test_shared_a(tddkit_conn):
    log_interval("shared_a")


@pytest.mark.tddkit_resources("shared-file")
def test_shared_b(tddkit_conn):
    log_interval("shared_b")


def test_free_c(tddkit_conn):
    log_interval("free_c")


def test_free_d(tddkit_conn):
    log_interval("free_d")
