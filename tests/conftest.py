"""Fixtures shared by the whole suite.

The suite runs offline: no telemetry, no model hub, Prefect in ephemeral mode with a
throwaway home. Slow tests run too (CI has the time); ``-m "not slow"`` skips them locally.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports torch or Prefect: one BLAS/OpenMP thread per process keeps the
# many small fits of the suite from fighting over the two cores of a CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="alchemist-prefect-home-"))
os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip when it is absent."""
    if not (SHARED_DATA / "wrench").is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (the shared folder beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API and database for the flow tests (started once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
