"""The exceptions Alchemist raises on purpose.

Every message says what was expected, what arrived and, where it helps, how to fix it.
"""


class AlchemistError(Exception):
    """Base class of every error Alchemist raises on purpose."""


class InputError(AlchemistError, ValueError):
    """User input (a data file, a spec, a config, a program folder) is not what was expected."""


class NoProgramsError(AlchemistError):
    """A run has no usable labeling program: every candidate was rejected, or every program quarantined."""


class StorageError(AlchemistError, OSError):
    """An artifact could not be read from or written to the storage root."""


class ProgramError(AlchemistError):
    """A labeling program cannot be used (it does not parse, or does not define ``label``)."""


class ProgramPolicyError(ProgramError):
    """A labeling program breaks the sandbox policy; ``violations`` lists every reason."""

    def __init__(self, name: str, violations: list[str]):
        self.name = name
        self.violations = list(violations)
        listed = "; ".join(self.violations)
        super().__init__(f"program {name!r} breaks the sandbox policy: {listed}")


class ProgramOutputError(ProgramError):
    """A labeling program returned something other than a class index or ``ABSTAIN``."""
