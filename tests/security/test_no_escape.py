"""Nothing a program does reaches outside its worker: no file changes, no secret leaks.

Two kinds of attacker are tried. The runtime corpus is made of programs that pass the static
policy, so whatever they achieve is a real escape. Programs run through the private
isolating entry point with ``os`` and friends added to the import list stand for a program
that got past the policy entirely; they show what the worker process alone still holds,
and the two tests marked ``xfail(strict=True)`` pin down what it does not (see "Known
limits" in docs/security.md).
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import os
import string
import subprocess
import sys
import types
from pathlib import Path

import pytest

from alchemist_core import LabelingProgram, ProgramSet
from alchemist_core.programs import sandbox, sandbox_worker
from alchemist_core.programs.policy import ALLOWED_IMPORTS
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.programs.sandbox import SandboxLimits, run_programs
from tests.security import EXPECTED, RUNTIME_OUTCOMES, load_corpus

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-canary-7f3a9c0e5b1d4e2f8a6c"
AWS_SECRET = "aws-canary-0c4e8b2a9d7f1e3b"
FAST = SandboxLimits(program_seconds=0.5, memory_mb=256)
DANGEROUS_BUILTINS = (
    "open", "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "type", "object", "super", "input", "breakpoint", "memoryview", "print",
)  # fmt: skip
ROWS = {"text": ["Subscribe to my channel!", "great song", "check out www.spam.com", "love it"]}

# Run in a child interpreter, so that the secrets are in the initial environment of the
# process that starts the workers: that is where /proc/<pid>/environ reads them from.
CORPUS_RUN = """
import json, logging, sys
from dataclasses import asdict
from alchemist_core.programs.apply import label_partition
from alchemist_core.programs.sandbox import SandboxLimits
from tests.security import FIELDS, N_CLASSES, RUNTIME_OUTCOMES, batch, between_good_programs, load_corpus

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
hostile = [p for p in load_corpus() if p.expect in RUNTIME_OUTCOMES]
limits = SandboxLimits(program_seconds=0.5, memory_mb=256)
labels = label_partition(batch(), between_good_programs(*hostile), N_CLASSES, fields=FIELDS, limits=limits)
json.dump(
    {
        "votes": {name: labels.L[:, j].tolist() for j, name in enumerate(labels.program_names)},
        "faults": {name: asdict(faults) for name, faults in labels.faults.items()},
    },
    sys.stdout,
)
"""

BYPASS_RUN = """
import json, sys
from alchemist_core.programs import sandbox
from alchemist_core.programs.policy import ALLOWED_IMPORTS
from alchemist_core.programs.sandbox import SandboxLimits

source = sys.stdin.read()
outcomes = sandbox._run_isolating(
    [("reader", source)], {"text": ["a"]}, 1, 2, SandboxLimits(program_seconds=2), ALLOWED_IMPORTS | {"os"}
)
json.dump({"first_error": outcomes["reader"][1].first_error}, sys.stdout)
"""


def _project(tmp_path: Path) -> dict[str, Path]:
    """A project folder the pipeline runs from, a home folder, a canary file and a temp root."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "victim"\n')
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (project / "data" / "rows.csv").write_text("text,label\nfree money,1\nnice song,0\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PS1='$ '\n")
    canary = tmp_path / "canary.txt"
    canary.write_text("the canary sings\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    return {"project": project, "home": home, "canary": canary, "temp": temp}


def _snapshot(*roots: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path under ``roots``: mtime, mode and content (a folder's mtime changes with its entries)."""
    state = {}
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.is_dir() else [root]:
            info = path.lstat()
            state[str(path)] = (info.st_mtime_ns, info.st_mode, path.read_bytes() if path.is_file() else b"")
    return state


def _unchecked(sources: dict[str, str], *, extra_imports=(), limits=FAST, rows=ROWS):
    """Run ``sources`` without the static policy, as if they had slipped past it."""
    columns = {k: list(v) for k, v in rows.items()}
    n_rows = len(next(iter(columns.values())))
    allowed = frozenset(ALLOWED_IMPORTS | set(extra_imports))
    return sandbox._run_isolating(list(sources.items()), columns, n_rows, 2, limits, allowed)


def _messages(outcomes) -> str:
    messages = [(f.first_error, f.first_invalid, f.quarantined) for _, f in outcomes.values()]
    return "\n".join(str(m) for triple in messages for m in triple)


# -- programs that pass the policy --------------------------------------------------------------
@pytest.mark.slow
def test_the_runtime_corpus_changes_no_file_and_leaks_no_secret(tmp_path):
    paths = _project(tmp_path)
    before = _snapshot(paths["project"], paths["home"], paths["canary"])
    env = {
        **os.environ,
        "OPENAI_API_KEY": SECRET,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "HOME": str(paths["home"]),
        "TMPDIR": str(paths["temp"]),
        "PYTHONPATH": str(REPO),
    }
    child = subprocess.run(
        [sys.executable, "-c", CORPUS_RUN], cwd=paths["project"], env=env, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout)

    # The well-behaved programs ran first and last: the hostile ones changed nothing they see.
    for name, expected in EXPECTED.items():
        assert result["votes"][name] == expected, name
    hostile = [p for p in load_corpus() if p.expect in RUNTIME_OUTCOMES]
    for program in hostile:
        if program.expect != "runtime:deterministic":
            assert set(result["votes"][program.name]) == {ABSTAIN}, (program.name, result["faults"][program.name])
    assert "escape_secret_in_votes" in result["votes"] and "escape_delete_file" in result["votes"]

    for secret in (SECRET, AWS_SECRET):
        assert secret not in child.stdout  # votes and every fault message
        assert secret not in child.stderr  # every log record and the workers' stderr tails
    assert "quarantined" in child.stderr  # the log did record the hostile programs
    assert _snapshot(paths["project"], paths["home"], paths["canary"]) == before
    assert list(paths["temp"].iterdir()) == []  # every scratch folder was removed


def test_the_worker_alone_contains_what_the_policy_missed():
    # The holes behind the corpus's escape_* programs, run with the policy switched off: the
    # module views and hidden names of the worker stop them on their own.
    sources = {
        "module_attribute": "import statistics\ndef label(x):\n    return len(statistics.sys.modules)\n",
        "imported_name": "from re import enum\ndef label(x):\n    return 1\n",
        "wrapper_globals": (
            "import functools, re\ndef holder():\n    return 0\ndef label(x):\n"
            "    functools.update_wrapper(holder, re.compile, assigned=(), updated=('__globals__',))\n    return 1\n"
        ),
        "formatter": "from string import Formatter\ndef label(x):\n    return 1\n",
        "reads": (
            "import collections.abc, re\ndef label(x):\n"
            "    return 1 if isinstance(x, collections.abc.Mapping) and re.compile('a') else 0\n"
        ),
    }
    outcomes = _unchecked(sources)
    assert "has no attribute 'sys'" in outcomes["module_attribute"][1].first_error
    assert "cannot import name 'enum'" in outcomes["imported_name"][1].quarantined
    assert "has no attribute 'update_wrapper'" in outcomes["wrapper_globals"][1].first_error
    assert "cannot import name 'Formatter'" in outcomes["formatter"][1].quarantined
    assert outcomes["reads"][0].tolist() == [1, 1, 1, 1]  # views still serve what programs need


def test_no_attribute_chain_leads_from_the_allowed_modules_to_anything_else():
    # Everything a program can reach by attribute access from its imports and builtins,
    # private names included: no module outside the allow-list, no dangerous callable.
    views: dict = {}
    roots = {name: sandbox_worker._module_view(__import__(name, fromlist=["_"]), views) for name in ALLOWED_IMPORTS}
    roots["collections.abc"] = sandbox_worker._module_view(__import__("collections.abc", fromlist=["_"]), views)
    builtins_ = sandbox_worker._safe_builtins(ALLOWED_IMPORTS)
    roots.update({name: value for name, value in builtins_.items() if name != "__import__"})
    allowed_views = {id(view) for _, view in views.values()}
    dangerous = {id(getattr(builtins, name)): name for name in DANGEROUS_BUILTINS}
    dangerous.update({id(functools.update_wrapper): "update_wrapper", id(functools.wraps): "wraps"})
    dangerous[id(string.Formatter)] = "Formatter"

    seen, found, queue = set(), [], list(roots.items())
    while queue:
        path, value = queue.pop()
        if id(value) in seen or isinstance(value, (str, bytes, int, float, complex, bool, type(None))):
            continue
        seen.add(id(value))
        if isinstance(value, types.ModuleType) and id(value) not in allowed_views:
            found.append(f"{path}: module {value.__name__}")
            continue
        if id(value) in dangerous:
            found.append(f"{path}: {dangerous[id(value)]}")
            continue
        for attribute in dir(value):
            if attribute.startswith("__"):
                continue
            try:
                queue.append((f"{path}.{attribute}", getattr(value, attribute)))
            except Exception:
                continue
    assert len(seen) > 500  # the walk did get somewhere
    assert found == []


def test_a_finished_program_leaves_no_memory_behind():
    # A program's namespace is a reference cycle: without a collection between programs its
    # 150 MB table would stay, and the next program would fail with MemoryError.
    hoarder = "TABLE = 'x' * (150 * 2 ** 20)\ndef label(x):\n    return 1\n"
    needy = "def label(x):\n    big = 'y' * (150 * 2 ** 20)\n    return 1 if big else 0\n"
    programs = ProgramSet((LabelingProgram("hoarder", hoarder), LabelingProgram("needy", needy)))
    labels = run_programs(ROWS, programs, 2, limits=SandboxLimits(program_seconds=5, memory_mb=300))
    assert labels.faults["needy"].ok, labels.faults["needy"]
    assert labels.L[:, 1].tolist() == [1, 1, 1, 1]


def test_a_finished_program_leaves_nothing_in_shared_caches():
    # re's cache is shared by every program in a worker; reading its size needs the policy off.
    sources = {
        "fills": "import re\ndef label(x):\n    return 1 if re.search('s' * 1000, x['text']) else 0\n",
        "counts": "import re\ndef label(x):\n    return min(len(re._cache), 1)\n",
    }
    outcomes = _unchecked(sources)
    assert outcomes["fills"][1].ok and outcomes["counts"][0].tolist() == [0, 0, 0, 0]


# -- programs past the policy ------------------------------------------------------------------
def test_past_the_policy_no_secret_is_in_the_worker_environment(monkeypatch, caplog, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    caplog.set_level(logging.DEBUG, logger="alchemist_core")
    bits = "".join(f"{b:08b}" for b in SECRET.encode())[: len(ROWS["text"])]
    sources = {
        "lookup": "import os\ndef label(x):\n    return 1 if os.environ['OPENAI_API_KEY'] else 0\n",
        "dump": "import os\ndef label(x):\n    raise ValueError(sorted(os.environ.items()))\n",
        "bits": (
            "import os\nROW = [0]\ndef label(x):\n    key = os.environ.get('OPENAI_API_KEY', '').encode()\n"
            "    i = ROW[0]\n    ROW[0] += 1\n    return (key[i // 8] >> (7 - i % 8)) & 1 if key else -1\n"
        ),
        # A child process gets the worker's environment, or no process at all (RLIMIT_NPROC).
        "child": "import os\ndef label(x):\n    raise ValueError(os.popen('env').read())\n",
    }
    outcomes = _unchecked(sources, extra_imports={"os"})
    assert outcomes["lookup"][1].first_error == "row 0: KeyError: 'OPENAI_API_KEY'"
    assert "PYTHONHASHSEED" in outcomes["dump"][1].first_error  # it did read the environment
    assert outcomes["bits"][0].tolist() == [ABSTAIN] * 4 != [int(b) for b in bits]
    everything = _messages(outcomes) + caplog.text + "".join(capfd.readouterr())
    assert SECRET not in everything and AWS_SECRET not in everything
    assert os.environ["OPENAI_API_KEY"] == SECRET  # the parent's own environment is untouched


def test_past_the_policy_no_write_lands_a_byte_outside_the_scratch_folder(tmp_path, monkeypatch):
    paths = _project(tmp_path)
    monkeypatch.setattr("tempfile.tempdir", str(paths["temp"]))
    canary, notes = paths["canary"], paths["project"] / "notes.txt"
    before = _snapshot(paths["project"], paths["home"], canary)
    sources = {
        "append": (
            f"import os\ndef label(x):\n    fd = os.open({str(canary)!r}, os.O_WRONLY | os.O_APPEND)\n"
            "    os.write(fd, b'pwned')\n    return 1\n"
        ),
        "io_append": (
            f"import io\ndef label(x):\n    f = io.open({str(canary)!r}, 'a')\n    f.write('pwned')\n"
            "    f.flush()\n    return 1\n"
        ),
        "create": (
            f"import os\ndef label(x):\n    fd = os.open({str(notes)!r}, os.O_WRONLY | os.O_CREAT)\n"
            "    os.write(fd, b'pwned')\n    return 1\n"
        ),
    }
    outcomes = _unchecked(sources, extra_imports={"os", "io"})
    for name in sources:
        assert outcomes[name][1].n_errors == 4, (name, outcomes[name][1])
        assert "File too large" in outcomes[name][1].first_error
    # RLIMIT_FSIZE lets a file be created, never written: only notes.txt, empty, may appear.
    after = _snapshot(paths["project"], paths["home"], canary)
    created = {path for path in after if path not in before}
    assert created <= {str(notes)} and (not notes.exists() or notes.read_bytes() == b"")
    assert {p: s for p, s in after.items() if p not in created and p != str(paths["project"])} == {
        p: s for p, s in before.items() if p != str(paths["project"])
    }
    assert canary.read_text() == "the canary sings\n"
    assert list(paths["temp"].iterdir()) == []


@pytest.mark.xfail(strict=True, reason="known limit: no filesystem jail once a program is past the policy")
def test_known_limit_past_the_policy_files_can_be_deleted_or_truncated(tmp_path):
    paths = _project(tmp_path)
    canary, settings = paths["canary"], paths["project"] / "pyproject.toml"
    sources = {
        "delete": f"import os\ndef label(x):\n    os.remove({str(canary)!r})\n    return 1\n",
        "truncate": f"import os\ndef label(x):\n    os.close(os.open({str(settings)!r}, os.O_WRONLY | os.O_TRUNC))\n"
        "    return 1\n",
    }
    _unchecked(sources, extra_imports={"os"})
    assert canary.exists() and settings.read_text() != ""


@pytest.mark.xfail(strict=True, reason="known limit: a process can read /proc/<ppid>/environ of its own user")
def test_known_limit_past_the_policy_the_parent_environment_is_readable_through_proc(tmp_path):
    reader = (
        "import os\ndef label(x):\n    fd = os.open('/proc/%d/environ' % os.getppid(), os.O_RDONLY)\n"
        "    raise ValueError([v for v in os.read(fd, 1 << 20).split(b'\\0') if v.startswith(b'OPENAI')])\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", BYPASS_RUN], input=reader, cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    assert SECRET not in json.loads(child.stdout)["first_error"]
