"""Prefect settings for an offline, self-contained run; applied before Prefect is imported."""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    # No telemetry, no network beyond loopback.
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # Caching needs persisted results.
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
    # The ephemeral API server may take a while to start on a busy 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LOG_PRINTS": "true",
}


def apply_offline_defaults(storage_root: str | None = None) -> None:
    """Set the offline defaults (without overriding the user's own settings).

    With a local storage root and no result storage configured, Prefect's task results go
    under ``<root>/prefect-results`` so the cache travels with the artifacts.
    """
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if storage_root and "://" not in storage_root:
        os.environ.setdefault(
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH", os.path.join(os.path.abspath(storage_root), "prefect-results")
        )
