import pytest

from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError, ProgramError
from alchemist_core.programs.program_set import (
    LabelingProgram,
    ProgramSet,
    load_program_folder,
    load_program_set,
    save_program_set,
)

SPAM = '''"""Spam when the comment links out."""
def label(x):
    return 1 if "http" in (x["text"] or "") else -1
'''
HAM = '''def label(x):
    return 0 if len(x["text"] or "") < 20 else -1
'''


def test_digest_follows_source():
    a = LabelingProgram("p0", SPAM)
    assert a.digest == LabelingProgram("other", SPAM).digest
    assert a.digest != LabelingProgram("p0", HAM).digest
    assert a.describe() == "Spam when the comment links out."


@pytest.mark.parametrize("name", ["", "1abc", "has space", "x" * 81])
def test_bad_names_rejected(name):
    with pytest.raises(ProgramError, match="not usable"):
        LabelingProgram(name, SPAM)


def test_duplicate_names_rejected():
    with pytest.raises(ProgramError, match=r"repeated: \['p0'\]"):
        ProgramSet((LabelingProgram("p0", SPAM), LabelingProgram("p0", HAM)))


def test_save_load_roundtrip_and_tamper_detection(tmp_path):
    storage = open_storage(str(tmp_path))
    program_set = ProgramSet((LabelingProgram("p0", SPAM, {"generator": "human"}), LabelingProgram("p1", HAM)))
    save_program_set(program_set, storage, "programs")
    loaded = load_program_set(storage, "programs")
    assert loaded.names == ["p0", "p1"]
    assert loaded.digest == program_set.digest
    assert loaded["p0"].origin == {"generator": "human"}
    (tmp_path / "programs" / "p1.py").write_text(HAM + "# edited\n")
    with pytest.raises(ProgramError, match="edited after it was stored"):
        load_program_set(storage, "programs")


def test_program_folder_keeps_origins_and_flags_edits(tmp_path):
    storage = open_storage(str(tmp_path))
    save_program_set(ProgramSet((LabelingProgram("p0", SPAM, {"generator": "openai", "model": "m"}),)), storage, "set")
    (tmp_path / "set" / "mine.py").write_text(HAM)
    folder = load_program_folder(tmp_path / "set")
    assert folder.names == ["mine", "p0"]
    assert folder["p0"].origin == {"generator": "openai", "model": "m"}
    assert folder["mine"].origin["generator"] == "library"
    (tmp_path / "set" / "p0.py").write_text(SPAM.replace("http", "www"))
    assert load_program_folder(tmp_path / "set")["p0"].origin["edited"] is True


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(InputError, match="at least one program"):
        load_program_folder(tmp_path)
    with pytest.raises(InputError, match="found none"):
        load_program_folder(tmp_path / "missing")


def test_programs_can_be_checked_from_many_threads_at_once():
    # Prefect runs tasks in a thread pool: parsing program source must be thread-safe.
    from concurrent.futures import ThreadPoolExecutor

    from alchemist_core.programs.policy import check_program

    sources = [SPAM.replace("http", f"h{i}") + "\n" * (i % 7) + "x = [[[[[[[1]]]]]]]\n" for i in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda s: (check_program(s, name="p"), LabelingProgram("p", s).features), sources))
    assert all(violations == [] and features == () for violations, features in results)


def test_a_parse_that_collides_with_another_threads_is_tried_again(monkeypatch):
    import ast

    import alchemist_core.digest as digest

    real, calls = ast.parse, []

    def colliding(source, filename="<unknown>"):
        calls.append(filename)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=51, after=55)")
        return real(source, filename=filename)

    monkeypatch.setattr(digest.ast, "parse", colliding)
    assert isinstance(digest.parse_python("x = 1\n"), ast.Module) and len(calls) == 2
    monkeypatch.setattr(digest.ast, "parse", lambda *a, **k: (_ for _ in ()).throw(SystemError("other")))
    with pytest.raises(SystemError, match="other"):
        digest.parse_python("x = 1\n")
