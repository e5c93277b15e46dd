import doctest

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alchemist_core import InputError, LabelingProgram, ProgramSet
from alchemist_core.programs import apply
from alchemist_core.programs.apply import (
    ValidationReport,
    label_partition,
    validate_program,
)
from alchemist_core.programs.sandbox import PartitionLabels, SandboxLimits

FAST = SandboxLimits(program_seconds=0.5)

PROGRAMS = ProgramSet(
    (
        LabelingProgram("spam_words", "def label(x):\n    return 1 if 'free' in (x['text'] or '') else -1\n"),
        LabelingProgram(
            "ham_words", "import re\ndef label(x):\n    return 0 if re.search(r'\\bsong\\b', x['text'] or '') else -1\n"
        ),
        LabelingProgram("is_null", "def label(x):\n    return 1 if x['text'] is None else 0\n"),
        LabelingProgram("sees_fields", "def label(x):\n    return 1 if sorted(x) == ['text'] else 0\n"),
    )
)


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": ["r0", "r1", "r2", "r3"],
            "text": ["free stuff", "nice song", None, "free song"],
            "label": [1, 0, 0, 1],
        }
    )


def test_label_partition_on_a_dataframe():
    labels = label_partition(_table(), PROGRAMS, 2, fields=["text"], limits=FAST)
    assert isinstance(labels, PartitionLabels)
    assert labels.program_names == ("spam_words", "ham_words", "is_null", "sees_fields")
    expected = np.array(
        [
            [1, -1, 0, 1],
            [-1, 0, 0, 1],
            [-1, -1, 1, 1],  # null arrives as None
            [1, 0, 0, 1],
        ],
        dtype=np.int8,
    )
    np.testing.assert_array_equal(labels.L, expected)
    assert labels.L.dtype == np.int8 and labels.n_rows == 4
    assert all(f.ok for f in labels.faults.values())


def test_a_pyarrow_table_gives_the_same_votes():
    table = pa.Table.from_pandas(_table(), preserve_index=False)
    from_arrow = label_partition(table, PROGRAMS, 2, fields=["text"], limits=FAST)
    from_pandas = label_partition(_table(), PROGRAMS, 2, fields=["text"], limits=FAST)
    np.testing.assert_array_equal(from_arrow.L, from_pandas.L)


def test_pandas_missing_values_and_numpy_scalars_arrive_as_plain_python_values():
    table = pd.DataFrame({"n": [1.5, np.nan, 3.0], "k": pd.array([1, None, 3], dtype="Int64")})
    program = LabelingProgram(
        "types",
        "def label(x):\n"
        "    if x['n'] is None and x['k'] is None:\n        return 0\n"
        "    return 1 if isinstance(x['n'], float) and isinstance(x['k'], int) else -1\n",
    )
    labels = label_partition(table, ProgramSet((program,)), 2, fields=["n", "k"], limits=FAST)
    assert labels.L[:, 0].tolist() == [1, 0, 1]


def test_mixed_object_columns_are_passed_as_they_are():
    table = pd.DataFrame({"v": pd.Series([1, "two", None, [3]], dtype=object)})
    source = "def label(x):\n    v = x['v']\n    return 0 if v is None else 1 if isinstance(v, tuple) else -1\n"
    program = LabelingProgram("kinds", source)
    labels = label_partition(table, ProgramSet((program,)), 2, fields=["v"], limits=FAST)
    assert labels.L[:, 0].tolist() == [-1, -1, 0, 1]


@pytest.mark.parametrize("list_type", [pa.list_(pa.float32()), pa.list_(pa.float32(), 3)])
def test_embedding_columns_arrive_as_tuples_of_floats(list_type):
    scores = [[0.5, -1.0, 2.0], [-0.25, 0.0, 1.0]]
    table = pa.table({"text": ["a", "b"], "scores": pa.array(scores, type=list_type)})
    program = LabelingProgram(
        "prototype",
        "import math\nPROTOTYPE = (1.0, 0.0, 0.0)\n"
        "def label(x):\n    s = x['scores']\n    if not (isinstance(s, tuple) and len(s) == 3):\n        return -1\n"
        "    return 1 if math.fsum(a * b for a, b in zip(s, PROTOTYPE)) > 0 else 0\n",
    )
    labels = label_partition(table, ProgramSet((program,)), 2, fields=["text", "scores"], limits=FAST)
    assert labels.L[:, 0].tolist() == [1, 0]


def test_ragged_or_null_lists_keep_their_shape():
    table = pa.table({"v": pa.array([[1.0], [2.0, 3.0], None], type=pa.list_(pa.float64()))})
    program = LabelingProgram("n", "def label(x):\n    return -1 if x['v'] is None else len(x['v']) - 1\n")
    labels = label_partition(table, ProgramSet((program,)), 2, fields=["v"], limits=FAST)
    assert labels.L[:, 0].tolist() == [0, 1, -1]


def test_missing_fields_are_an_input_error():
    with pytest.raises(InputError, match=r"no column \['title'\]"):
        label_partition(_table(), PROGRAMS, 2, fields=["text", "title"], limits=FAST)
    with pytest.raises(InputError, match="non-empty sequence"):
        label_partition(_table(), PROGRAMS, 2, fields=[], limits=FAST)
    with pytest.raises(InputError, match="pyarrow.Table or a pandas.DataFrame"):
        label_partition({"text": ["a"]}, PROGRAMS, 2, fields=["text"], limits=FAST)


WORDS = st.sampled_from(["free", "song", "win", "hello", "great", "subscribe", ""])
TEXTS = st.lists(st.one_of(st.none(), st.lists(WORDS, max_size=4).map(" ".join)), max_size=6)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=TEXTS, second=TEXTS)
def test_labeling_a_concatenation_equals_concatenating_the_labels(first, second):
    flaky = LabelingProgram("flaky", "def label(x):\n    return 2 if 'win' in x['text'] else 1 // len(x['text'])\n")
    programs = ProgramSet((*PROGRAMS.programs, flaky))
    left = label_partition(pd.DataFrame({"text": first}, dtype=object), programs, 3, fields=["text"], limits=FAST)
    right = label_partition(pd.DataFrame({"text": second}, dtype=object), programs, 3, fields=["text"], limits=FAST)
    whole = label_partition(
        pd.DataFrame({"text": first + second}, dtype=object), programs, 3, fields=["text"], limits=FAST
    )
    np.testing.assert_array_equal(whole.L, np.concatenate([left.L, right.L]))
    for name in programs.names:
        assert left.faults[name].n_errors + right.faults[name].n_errors == whole.faults[name].n_errors
        assert left.faults[name].n_invalid + right.faults[name].n_invalid == whole.faults[name].n_invalid
    assert set(np.unique(whole.L)) <= {-1, 0, 1, 2}


SAMPLE = [{"text": "free money"}, {"text": "a song"}, {"text": "hello"}, {"text": "free song"}]


@pytest.mark.parametrize(
    ("source", "ok", "reason"),
    [
        ("def label(x):\n    return 1 if 'free' in x['text'] else -1\n", True, None),
        # raises on exactly half of the rows: still acceptable
        ("def label(x):\n    return 1 if 'free' in x['text'] else x['nope']\n", True, None),
        ("def label(x):\n    return 1 if 'money' in x['text'] else x['nope']\n", False,
         "raised on 3 of 4 sample rows; first error: row 1: KeyError: 'nope'"),
        ("def label(x):\n    return 'spam' if 'song' in x['text'] else -1\n", False,
         "returned an invalid output on 2 of 4 sample rows; "
         "first: row 1: returned 'spam'; expected an int in -1..1"),
        ("import os\ndef label(x):\n    return 1\n", False,
         "breaks the sandbox policy: line 1: import of 'os' is not allowed"),
        ("def label(x):\n    while True:\n        pass\n", False,
         "timed out: it did not finish 4 sample rows in 0.5 s"),
        ("import re\nP = re.compile('(')\ndef label(x):\n    return 1\n", False,
         "quarantined: could not be loaded: module raised"),
    ],
)  # fmt: skip
def test_validate_program(source, ok, reason):
    report = validate_program(LabelingProgram("candidate", source), SAMPLE, 2, limits=FAST)
    assert isinstance(report, ValidationReport)
    assert report.ok is ok
    if reason is None:
        assert report.reason is None
    else:
        assert report.reason.startswith(reason), report.reason
    assert report.votes.shape == (4,) and report.votes.dtype == np.int8


def test_validate_program_returns_the_votes_and_fills_missing_fields_with_none():
    rows = [{"text": "free"}, {"title": "no text here"}]
    source = "def label(x):\n    return 0 if x['text'] is None else 1\n"
    report = validate_program(LabelingProgram("p", source), rows, 2, limits=FAST)
    assert report.ok and report.votes.tolist() == [1, 0]


def test_module_examples_hold():
    assert doctest.testmod(apply).failed == 0
