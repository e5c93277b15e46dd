"""Cache policy and retry rules shared by the tasks."""

from __future__ import annotations

from functools import lru_cache

from prefect.cache_policies import INPUTS, TASK_SOURCE

from alchemist_core.digest import code_digest
from alchemist_core.errors import InputError, ProgramError

# Inputs (URIs, digests, config sections) plus the task's own source.
CACHE_POLICY = INPUTS + TASK_SOURCE


@lru_cache(maxsize=None)
def core_digest(*modules: str) -> str:
    """Digest of the ``alchemist_core`` modules a task calls (an explicit cache-key input)."""
    return code_digest(modules)


def retry_transient(task, task_run, state) -> bool:
    """Retry only errors that may go away: storage and network hiccups, not bad input or bad programs."""
    try:
        state.result()
    except (InputError, ProgramError):
        return False
    except (OSError, TimeoutError, ConnectionError):
        return True
    except Exception:  # noqa: BLE001 - anything else is a bug or a decision, not a hiccup
        return False
    return False
