"""The ``library`` generator: reuse a folder of programs instead of writing new ones.

The folder holds hand-written programs, a stored program set (``<name>.py`` files plus the
``manifest.json`` written by :func:`alchemist_core.programs.program_set.save_program_set`), or both mixed.
The generator does not invent anything: it returns the folder's programs with their origins
(a stored set keeps the origin recorded in its manifest; hand-written files get
``{"generator": "library", "path": <file name>}``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alchemist_core.errors import InputError
from alchemist_core.generators.base import GenerationContext, GenerationResult
from alchemist_core.programs.program_set import load_program_folder

logger = logging.getLogger(__name__)


class LibraryGenerator:
    """Programs read from a folder of ``.py`` files.

    Parameters
    ----------
    path : str or pathlib.Path
        The folder. Files whose name starts with ``_`` are skipped; the file stem is the
        program name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from alchemist_core.generators.base import GenerationContext
    >>> from alchemist_core.spec import parse_spec
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "says_spam.py").write_text("def label(x):\\n    return 1\\n")
    >>> spec = parse_spec({"name": "spam", "instruction": "Spam?", "classes": [{"name": "ham"}, {"name": "spam"}]})
    >>> LibraryGenerator(folder).generate(GenerationContext(spec)).program_set.names
    ['says_spam']
    """

    name = "library"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def generate(self, context: GenerationContext) -> GenerationResult:
        """Read the folder's programs; ``context`` is not used beyond the log line.

        Raises
        ------
        InputError
            When the folder does not exist, holds no program file, or holds a program that does
            not parse or breaks the sandbox policy (each one is named with its reasons): a
            library is code a person chose to run, so it is fixed, not silently skipped.
        """
        from alchemist_core.programs.policy import check_program

        if not self.path.is_dir():
            raise InputError(f"the library generator expected a folder of program .py files at {self.path}, found none")
        program_set = load_program_folder(self.path, origin="library")
        problems = [
            f"{program.name}.py: {'; '.join(violations)}"
            for program in program_set
            if (violations := check_program(program.source, name=program.name))
        ]
        if problems:
            raise InputError(
                f"the program folder {self.path} holds {len(problems)} program(s) that cannot run; expected each file to "
                f"define label(x) within the sandbox policy: " + " | ".join(problems)
            )
        n_edited = sum(1 for p in program_set if p.origin.get("edited"))
        logger.info(
            "library: read %d programs from %s for task %r (%d edited since stored)",
            len(program_set),
            self.path,
            context.spec.name,
            n_edited,
        )
        return GenerationResult(
            program_set=program_set,
            details={"path": str(self.path), "n_programs": len(program_set), "n_edited": n_edited},
        )
