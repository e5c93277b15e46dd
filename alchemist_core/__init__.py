"""Alchemist core: LLM-written labeling programs, weak supervision and distillation.

This package is the pure library under the Prefect flows: it never imports Prefect.
Importing it is cheap; heavy dependencies (torch, sentence-transformers, open_clip,
snorkel) are imported by the modules that need them, when they are first used.
"""

import sys as _sys
import types as _types

# NB: torchvision 0.28.0 (PyPI, a CUDA build) beside the CPU torch 2.13.0 wheel cannot load
# its C++ ops, and registering Meta kernels for them raises at import time, which breaks
# transformers, sentence-transformers and open_clip. Alchemist uses no torchvision op, so the
# registrations are skipped. This must run before anything imports torchvision; every worker
# process imports this package first. Harmless where torchvision works (its ops stay usable).
_sys.modules.setdefault(
    "torchvision._meta_registrations", _types.ModuleType("torchvision._meta_registrations")
)

from alchemist_core.errors import (  # noqa: E402
    AlchemistError,
    InputError,
    ProgramError,
    ProgramOutputError,
    ProgramPolicyError,
    StorageError,
)
from alchemist_core.programs.program_set import ABSTAIN, LabelingProgram, ProgramSet  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ABSTAIN",
    "AlchemistError",
    "InputError",
    "LabelingProgram",
    "ProgramError",
    "ProgramOutputError",
    "ProgramPolicyError",
    "ProgramSet",
    "StorageError",
    "__version__",
]
