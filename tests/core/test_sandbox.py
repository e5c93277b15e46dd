import ast
import os
import pickle
import struct
import sys
import tempfile

import numpy as np
import pytest

from alchemist_core import InputError, LabelingProgram, ProgramSet
from alchemist_core.programs import sandbox
from alchemist_core.programs.policy import ALLOWED_IMPORTS
from alchemist_core.programs.sandbox import WORKER_PATH, SandboxLimits, run_programs

ROWS = {"text": ["Subscribe to my channel!", "great song", "check out www.spam.com", "love it"]}
FAST = SandboxLimits(program_seconds=0.5)

SPAM = "def label(x):\n    t = x['text'].lower()\n    return 1 if 'subscribe' in t or 'www' in t else -1\n"
HAM = "import re\ndef label(x):\n    return 0 if re.search(r'song|love', x['text']) else -1\n"
EXPECTED_SPAM = [1, -1, 1, -1]
EXPECTED_HAM = [-1, 0, -1, 0]


def _set(**sources: str) -> ProgramSet:
    return ProgramSet(tuple(LabelingProgram(name, source) for name, source in sources.items()))


def _unchecked(sources, rows=ROWS, *, extra_imports=(), limits=FAST):
    """Run sources WITHOUT the static policy, as if a program had slipped past it.

    Only for testing the second layer (the worker process and its limits) with programs the
    policy would rightly reject.
    """
    columns = {k: list(v) for k, v in rows.items()}
    n_rows = len(next(iter(columns.values())))
    allowed = ALLOWED_IMPORTS | set(extra_imports)
    return sandbox._run_isolating(list(sources.items()), columns, n_rows, 2, limits, frozenset(allowed))


def test_normal_programs_give_the_expected_votes():
    labels = run_programs(ROWS, _set(spam=SPAM, ham=HAM), 2, limits=FAST)
    assert labels.L.dtype == np.int8 and labels.L.shape == (4, 2)
    assert labels.L[:, 0].tolist() == EXPECTED_SPAM
    assert labels.L[:, 1].tolist() == EXPECTED_HAM
    assert labels.program_names == ("spam", "ham")
    assert all(f.ok for f in labels.faults.values())


def test_a_raising_program_abstains_on_those_rows_and_the_run_completes():
    flaky = (
        "def label(x):\n    if 'song' in x['text']:\n        raise ValueError('no songs')\n    return x['missing']\n"
    )
    half = "def label(x):\n    return 1 // (len(x['text']) % 2)\n"
    labels = run_programs(ROWS, _set(flaky=flaky, half=half, spam=SPAM), 2, limits=FAST)
    flaky_faults = labels.faults["flaky"]
    assert flaky_faults.n_errors == 4 and not flaky_faults.timed_out and flaky_faults.quarantined is None
    assert flaky_faults.first_error == "row 0: KeyError: 'missing'"
    assert labels.L[:, 0].tolist() == [-1, -1, -1, -1]
    # lengths 24, 10, 22, 7: only the odd one divides
    assert labels.faults["half"].n_errors == 3 and labels.L[:, 1].tolist() == [-1, -1, -1, 1]
    assert "ZeroDivisionError" in labels.faults["half"].first_error
    assert labels.L[:, 2].tolist() == EXPECTED_SPAM


@pytest.mark.parametrize(
    "loop",
    [
        "def label(x):\n    while True:\n        pass\n",
        "def label(x):\n    while True:\n        try:\n            pass\n        except Exception:\n            pass\n",
        # stuck while loading, before label exists
        "n = 0\nwhile True:\n    n += 1\ndef label(x):\n    return 1\n",
    ],
)
def test_an_endless_loop_times_out_and_the_others_keep_their_votes(loop):
    labels = run_programs(ROWS, _set(spam=SPAM, loop=loop, ham=HAM), 2, limits=FAST)
    faults = labels.faults["loop"]
    assert faults.timed_out and faults.quarantined is None
    assert 0.5 <= faults.seconds < 1.5
    assert labels.L[:, 1].tolist() == [-1, -1, -1, -1]
    assert labels.L[:, 0].tolist() == EXPECTED_SPAM and labels.L[:, 2].tolist() == EXPECTED_HAM


def test_a_program_stuck_in_c_code_is_killed_and_quarantined():
    # any() over an endless C iterator never returns to the bytecode loop, so the timer's
    # signal handler never runs: only the parent's deadline stops it.
    stuck = "import itertools\ndef label(x):\n    return 1 if any(itertools.repeat(0)) else 0\n"
    labels = run_programs(ROWS, _set(spam=SPAM, stuck=stuck, ham=HAM), 2, limits=FAST)
    faults = labels.faults["stuck"]
    assert faults.timed_out and "ignored its 0.5 s time limit" in faults.quarantined
    assert labels.L[:, 1].tolist() == [-1, -1, -1, -1]
    assert labels.L[:, 0].tolist() == EXPECTED_SPAM and labels.L[:, 2].tolist() == EXPECTED_HAM


def test_a_program_that_exits_its_worker_is_quarantined_and_the_others_keep_their_votes():
    exits = "import os\ndef label(x):\n    os._exit(3)\n"
    outcomes = _unchecked({"spam": SPAM, "exits": exits, "ham": HAM}, extra_imports={"os"})
    votes, faults = outcomes["exits"]
    assert votes is None and "exited with status 3" in faults.quarantined
    assert outcomes["spam"][0].tolist() == EXPECTED_SPAM
    assert outcomes["ham"][0].tolist() == EXPECTED_HAM


def test_a_program_that_segfaults_its_worker_is_quarantined():
    crash = "import ctypes\ndef label(x):\n    return ctypes.string_at(0)\n"
    outcomes = _unchecked({"crash": crash, "ham": HAM}, extra_imports={"ctypes"})
    assert "SIGSEGV" in outcomes["crash"][1].quarantined
    assert outcomes["ham"][0].tolist() == EXPECTED_HAM


def test_a_memory_bomb_is_a_fault_on_its_rows_not_a_crash():
    bomb = "def label(x):\n    return len('x' * (10 ** 11))\n"
    hog = "def label(x):\n    big = []\n    while True:\n        big.append('x' * 10 ** 7)\n"
    limits = SandboxLimits(program_seconds=10, memory_mb=256)
    rows = {"text": ["subscribe now", "a song"]}
    labels = run_programs(rows, _set(bomb=bomb, hog=hog, spam=SPAM), 2, limits=limits)
    for name in ("bomb", "hog"):
        assert labels.faults[name].n_errors == 2, labels.faults[name]
        assert labels.faults[name].first_error == "row 0: MemoryError"
    assert labels.L[:, 2].tolist() == [1, -1]


def test_deep_recursion_is_a_fault():
    deep = "def label(x):\n    return label(x)\n"
    labels = run_programs(ROWS, _set(deep=deep, spam=SPAM), 2, limits=FAST)
    assert labels.faults["deep"].n_errors == 4
    assert labels.faults["deep"].first_error.startswith("row 0: RecursionError")
    assert labels.L[:, 1].tolist() == EXPECTED_SPAM


@pytest.mark.parametrize(
    ("returned", "shown"),
    [("'spam'", "'spam'"), ("None", "None"), ("float('nan')", "nan"), ("7", "7"), ("-2", "-2"),
     ("True", "True"), ("1.0", "1.0"), ("[0] * 10 ** 6", "[0, 0, 0, 0, 0, 0, ...]")],
)  # fmt: skip
def test_invalid_outputs_abstain_and_are_counted(returned, shown):
    labels = run_programs(ROWS, _set(bad=f"def label(x):\n    return {returned}\n"), 2, limits=FAST)
    faults = labels.faults["bad"]
    assert faults.n_invalid == 4 and faults.n_errors == 0
    assert faults.first_invalid == f"row 0: returned {shown}; expected an int in -1..1"
    assert len(faults.first_invalid) <= 200
    assert labels.L[:, 0].tolist() == [-1, -1, -1, -1]


def test_rows_cannot_be_mutated_by_a_program():
    rows = {"text": ["a", "b"], "tags": [["x"], ["y"]], "meta": [{"k": 1}, {"k": 2}]}
    sources = {
        "set_item": "def label(x):\n    x['text'] = 'changed'\n    return 1\n",
        "append": "def label(x):\n    x['tags'].append('z')\n    return 1\n",
        "nested": "def label(x):\n    x['meta']['k'] = 0\n    return 1\n",
        "dict_update": "def label(x):\n    dict.update(x, text='changed')\n    return 1\n",
        "reader": "def label(x):\n    ok = x['text'] in ('a', 'b') and len(x['tags']) == 1 and x['meta']['k'] > 0\n"
        "    return 1 if ok else 0\n",
    }
    labels = run_programs(rows, _set(**sources), 2, limits=FAST)
    for name in ("set_item", "append", "nested", "dict_update"):
        assert labels.faults[name].n_errors == 2, (name, labels.faults[name])
    assert labels.L[:, 4].tolist() == [1, 1]


def test_a_policy_violation_is_quarantined_and_never_run():
    leaky = "import os\ndef label(x):\n    return 1\n"
    labels = run_programs(ROWS, _set(leaky=leaky, spam=SPAM), 2, limits=FAST)
    assert labels.faults["leaky"].quarantined.startswith("breaks the sandbox policy: line 1: import of 'os'")
    assert labels.L[:, 0].tolist() == [-1, -1, -1, -1]
    assert labels.L[:, 1].tolist() == EXPECTED_SPAM


def test_a_module_that_fails_to_load_is_quarantined():
    broken = "import re\nWORDS = undefined_name\ndef label(x):\n    return 1\n"
    labels = run_programs(ROWS, _set(broken=broken, ham=HAM), 2, limits=FAST)
    assert labels.faults["broken"].quarantined == (
        "could not be loaded: module raised NameError: name 'undefined_name' is not defined"
    )
    assert labels.L[:, 1].tolist() == EXPECTED_HAM


def test_the_worker_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_SECRET", "hunter2")
    # Through the policy: reading the environment needs os, which is not allowed.
    reads_env = "import os\ndef label(x):\n    return 1 if 'ALCHEMIST_TEST_SECRET' in os.environ else 0\n"
    labels = run_programs(ROWS, _set(reads_env=reads_env), 2, limits=FAST)
    assert "import of 'os' is not allowed" in labels.faults["reads_env"].quarantined
    # Past the policy: the worker process itself has no such variable.
    outcomes = _unchecked({"reads_env": reads_env}, extra_imports={"os"})
    assert outcomes["reads_env"][0].tolist() == [0, 0, 0, 0]
    assert "ALCHEMIST_TEST_SECRET" in os.environ


def test_set_order_and_therefore_votes_are_the_same_in_every_worker():
    # String hashes are randomised per process unless PYTHONHASHSEED is fixed; a program that
    # depends on set order would otherwise vote differently from one worker to the next.
    ordered = "def label(x):\n    return 1 if list(set(x['text'].split()))[0] < 'm' else 0\n"
    rows = {"text": [" ".join(f"w{i}{j}" for j in range(8)) + " alpha zulu" for i in range(50)]}
    first = run_programs(rows, _set(ordered=ordered), 2, limits=FAST).L
    second = run_programs(rows, _set(ordered=ordered), 2, limits=FAST).L
    assert np.array_equal(first, second)


def test_no_file_is_written_outside_the_scratch_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "leak.txt"
    writer = (
        "import os\ndef label(x):\n"
        f"    fd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)\n"
        "    os.write(fd, b'leaked')\n    return 1\n"
    )
    outcomes = _unchecked({"writer": writer}, extra_imports={"os"})
    faults = outcomes["writer"][1]
    assert faults.n_errors == 4 and "File too large" in faults.first_error
    assert not target.exists() or target.read_bytes() == b""
    # the scratch directory the worker ran in is gone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("alchemist-sandbox-")] == []


def test_the_worker_itself_refuses_imports_and_builtins_outside_the_policy():
    sources = {
        "imports_os": "import os\ndef label(x):\n    return 1\n",
        "imports_private": "from re import _compile\ndef label(x):\n    return 1\n",
        "opens": "def label(x):\n    return len(open('/etc/passwd').read())\n",
        "reads_builtins": "def label(x):\n    return len(__builtins__['__import__']('os').environ)\n",
        "evals": "def label(x):\n    return eval('1')\n",
        "defines_class": "class A:\n    pass\ndef label(x):\n    return 1\n",
    }
    outcomes = _unchecked(sources)
    assert "ImportError: import of 'os' is not allowed" in outcomes["imports_os"][1].quarantined
    assert "ImportError: 'from re import _compile' is not allowed" in outcomes["imports_private"][1].quarantined
    assert outcomes["opens"][1].first_error == "row 0: NameError: name 'open' is not defined"
    assert outcomes["evals"][1].first_error == "row 0: NameError: name 'eval' is not defined"
    assert "ImportError" in outcomes["reads_builtins"][1].first_error
    assert "__build_class__ not found" in outcomes["defines_class"][1].quarantined


class _Payload:
    """Unpickling this would create a directory: a stand-in for running any code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_the_parent_never_unpickles_code_from_a_worker(tmp_path):
    target = tmp_path / "pwned"
    data = pickle.dumps(_Payload(str(target)), protocol=5)
    frame = struct.pack(">Q", len(data)) + data
    # The worker's channel is a dup of stdout on some low descriptor: write to them all.
    forger = (
        "import os\ndef label(x):\n    for fd in range(3, 12):\n        try:\n"
        f"            os.write(fd, {frame!r})\n        except Exception:\n            pass\n    return 1\n"
    )
    outcomes = _unchecked({"spam": SPAM, "forger": forger, "ham": HAM}, extra_imports={"os"})
    assert "broke the worker protocol" in outcomes["forger"][1].quarantined
    assert "only builtin values are allowed" in outcomes["forger"][1].quarantined
    assert not target.exists()
    assert outcomes["spam"][0].tolist() == EXPECTED_SPAM and outcomes["ham"][0].tolist() == EXPECTED_HAM


def test_the_worker_imports_only_the_standard_library():
    tree = ast.parse(WORKER_PATH.read_text())
    nodes = list(ast.walk(tree))
    imported = {a.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom)}
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_numeric_arrays_arrive_as_python_numbers(dtype):
    matrix = np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    flags = np.array([1, 0], dtype=dtype)
    program = (
        "def label(x):\n    v, f = x['v'], x['f']\n"
        "    ok = isinstance(v, tuple) and len(v) == 3 and not isinstance(f, tuple)\n"
        "    return int(v[0] + f) if ok else -1\n"
    )
    labels = run_programs({"v": matrix, "f": flags}, _set(p=program), 3, limits=FAST)
    assert labels.L[:, 0].tolist() == [2, 0]


def test_rows_that_are_not_plain_python_values_are_an_input_error():
    with pytest.raises(InputError, match="plain Python values"):
        run_programs({"score": [np.float64(0.5)]}, _set(spam=SPAM), 2, limits=FAST)


def test_rows_that_do_not_fit_in_memory_are_an_input_error_naming_the_setting():
    rows = {"text": [f"{i:08d}" * 125 for i in range(80_000)]}  # 80 MB of text
    with pytest.raises(InputError, match=r"MemoryError.*SandboxLimits.memory_mb = 64 MiB"):
        run_programs(rows, _set(spam=SPAM), 2, limits=SandboxLimits(memory_mb=64))


def test_empty_rows_and_empty_program_sets():
    labels = run_programs({"text": []}, _set(spam=SPAM), 2, limits=FAST)
    assert labels.L.shape == (0, 1) and labels.faults["spam"].ok
    labels = run_programs(ROWS, ProgramSet(()), 2, limits=FAST)
    assert labels.L.shape == (4, 0) and labels.faults == {}


@pytest.mark.parametrize("n_classes", [0, 128, True, 2.0])
def test_n_classes_out_of_range_is_rejected(n_classes):
    with pytest.raises(ValueError, match="n_classes must be an int in 1..127"):
        run_programs(ROWS, _set(spam=SPAM), n_classes, limits=FAST)


def test_columns_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="same number of values"):
        run_programs({"a": [1, 2], "b": [1]}, _set(spam=SPAM), 2, limits=FAST)


@pytest.mark.parametrize(
    "kwargs", [{"program_seconds": 0}, {"program_seconds": -1.0}, {"memory_mb": 10}, {"cpu_seconds": 0}]
)
def test_sandbox_limits_are_validated(kwargs):
    with pytest.raises(ValueError, match="must be"):
        SandboxLimits(**kwargs)


def test_cpu_limit_grows_with_the_number_of_programs():
    limits = SandboxLimits(program_seconds=2.0)
    assert limits.cpu_seconds_for(10) > limits.cpu_seconds_for(1) >= 2 * 2.0
    assert SandboxLimits(cpu_seconds=7).cpu_seconds_for(10) == 7
