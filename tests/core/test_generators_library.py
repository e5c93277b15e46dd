import pytest

from alchemist_core import InputError, LabelingProgram, ProgramSet
from alchemist_core.data.storage import open_storage
from alchemist_core.generators import GenerationContext, ProgramGenerator
from alchemist_core.generators.library import LibraryGenerator
from alchemist_core.programs.program_set import save_program_set
from alchemist_core.spec import parse_spec

SPEC = parse_spec(
    {"name": "spam", "instruction": "Is this comment spam?", "classes": [{"name": "ham"}, {"name": "spam"}]}
)

LINKS = '''"""Spam when the comment links out."""
def label(x):
    return 1 if "http" in (x["text"] or "") else -1
'''
SHORT = '''def label(x):
    return 0 if len(x["text"] or "") < 20 else -1
'''


def test_protocol():
    assert isinstance(LibraryGenerator("anywhere"), ProgramGenerator)
    assert LibraryGenerator("anywhere").name == "library"


def test_hand_written_folder(tmp_path):
    (tmp_path / "links.py").write_text(LINKS)
    (tmp_path / "short.py").write_text(SHORT)
    (tmp_path / "_helper.py").write_text("X = 1\n")  # skipped: starts with an underscore
    (tmp_path / "notes.txt").write_text("not a program")

    result = LibraryGenerator(tmp_path).generate(GenerationContext(SPEC))

    assert result.program_set.names == ["links", "short"]
    assert result.program_set["links"].source == LINKS
    assert dict(result.program_set["short"].origin) == {"generator": "library", "path": "short.py"}
    assert result.rejected == () and result.n_duplicates == 0
    assert result.details["n_programs"] == 2 and result.details["n_edited"] == 0


def test_stored_set_keeps_its_origins_and_flags_edits(tmp_path):
    stored = ProgramSet(
        (
            LabelingProgram("p01_links", LINKS, {"generator": "openai", "model": "gpt-x", "cost": 0.002}),
            LabelingProgram("p02_short", SHORT, {"generator": "offline", "method": "patterns"}),
        )
    )
    save_program_set(stored, open_storage(str(tmp_path)), "programs")
    folder = tmp_path / "programs"
    (folder / "p02_short.py").write_text(SHORT.replace("20", "25"))  # a user edit
    (folder / "p03_mine.py").write_text(SHORT)  # a user addition

    result = LibraryGenerator(folder).generate(GenerationContext(SPEC))

    programs = result.program_set
    assert programs.names == ["p01_links", "p02_short", "p03_mine"]
    assert dict(programs["p01_links"].origin) == {"generator": "openai", "model": "gpt-x", "cost": 0.002}
    assert programs["p02_short"].origin["generator"] == "offline"
    assert programs["p02_short"].origin["edited"] is True
    assert "edited" not in programs["p01_links"].origin
    assert dict(programs["p03_mine"].origin) == {"generator": "library", "path": "p03_mine.py"}
    assert result.details["n_edited"] == 1


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(InputError, match="expected a folder of program .py files"):
        LibraryGenerator(tmp_path / "nope").generate(GenerationContext(SPEC))
    with pytest.raises(InputError, match="at least one program"):
        LibraryGenerator(tmp_path).generate(GenerationContext(SPEC))
