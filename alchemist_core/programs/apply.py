"""Applying a program set to a partition of rows: votes and per-program faults.

:func:`label_partition` is the one function used everywhere programs meet data: on a plain
DataFrame in tests, inside a Prefect task, or per partition on Dask. The programs run in
sandboxed worker processes (:mod:`alchemist_core.programs.sandbox`); this module turns a table into
columns of plain Python values and returns the votes as data, with faults as data too (a
mutable counter would not survive Dask processes). Labeling the concatenation of two
partitions gives the concatenation of their labels, which is what lets Dask split the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from alchemist_core.errors import InputError
from alchemist_core.programs.policy import check_program
from alchemist_core.programs.program_set import ABSTAIN, LabelingProgram, ProgramSet
from alchemist_core.programs.sandbox import PartitionLabels, SandboxLimits, run_programs


@dataclass(frozen=True)
class ValidationReport:
    """The verdict of a smoke run: ``ok``, the ``reason`` when not, and the ``votes`` on the sample."""

    ok: bool
    reason: str | None
    votes: np.ndarray


def label_partition(
    table: Any,
    program_set: ProgramSet,
    n_classes: int,
    *,
    fields: Sequence[str],
    limits: SandboxLimits = SandboxLimits(),
) -> PartitionLabels:
    """Run every program of ``program_set`` on every row of ``table``.

    Parameters
    ----------
    table : pyarrow.Table or pandas.DataFrame
        One partition of the data.
    program_set : ProgramSet
        The programs; ``L`` has one column per program, in this order.
    n_classes : int
        Number of classes.
    fields : sequence of str
        The input fields programs may read; only these are passed (never labels or row ids).
        Nulls arrive as ``None``.
    limits : SandboxLimits
        Time and memory limits of the sandbox.

    Returns
    -------
    PartitionLabels

    Raises
    ------
    InputError
        When ``fields`` is empty or names a column the table lacks.

    Examples
    --------
    >>> import pandas as pd
    >>> from alchemist_core import LabelingProgram, ProgramSet
    >>> program = LabelingProgram("free", "def label(x):\\n    return 1 if 'free' in x['text'] else -1\\n")
    >>> table = pd.DataFrame({"text": ["free money", "hello"], "label": [1, 0]})
    >>> label_partition(table, ProgramSet((program,)), 2, fields=["text"]).L.ravel().tolist()
    [1, -1]
    """
    return run_programs(_columns(table, fields), program_set, n_classes, limits=limits)


def validate_program(
    program: LabelingProgram,
    sample_rows: Sequence[Mapping[str, Any]],
    n_classes: int,
    *,
    limits: SandboxLimits = SandboxLimits(),
) -> ValidationReport:
    """Smoke-run a candidate program before accepting it.

    The program must pass the sandbox policy, load, finish within the time limit, raise on
    at most half of ``sample_rows`` and return a valid vote (an int in ``-1..n_classes-1``)
    on every row where it does not raise.

    Parameters
    ----------
    program : LabelingProgram
        The candidate.
    sample_rows : sequence of mappings
        Rows of input fields; a field missing from a row arrives as ``None``.
    n_classes : int
        Number of classes.
    limits : SandboxLimits
        Time and memory limits of the sandbox.

    Returns
    -------
    ValidationReport
        ``votes`` has one entry per sample row (all ``ABSTAIN`` when the program never ran).
    """
    n_rows = len(sample_rows)
    nothing = np.full(n_rows, ABSTAIN, dtype=np.int8)
    violations = check_program(program.source, name=program.name)
    if violations:
        return ValidationReport(False, "breaks the sandbox policy: " + "; ".join(violations), nothing)
    fields: dict[str, None] = {}
    for row in sample_rows:
        fields.update(dict.fromkeys(row))
    columns = {name: [row.get(name) for row in sample_rows] for name in fields}
    labels = run_programs(columns, ProgramSet((program,)), n_classes, limits=limits)
    faults = labels.faults[program.name]
    votes = labels.L[:, 0].copy()
    if faults.quarantined:
        return ValidationReport(False, f"quarantined: {faults.quarantined}", nothing)
    if faults.timed_out:
        return ValidationReport(
            False, f"timed out: it did not finish {n_rows} sample rows in {limits.program_seconds:g} s", nothing
        )
    if faults.n_errors * 2 > n_rows:
        return ValidationReport(
            False, f"raised on {faults.n_errors} of {n_rows} sample rows; first error: {faults.first_error}", votes
        )
    if faults.n_invalid:
        return ValidationReport(
            False,
            f"returned an invalid output on {faults.n_invalid} of {n_rows} sample rows; first: {faults.first_invalid}",
            votes,
        )
    return ValidationReport(True, None, votes)


def _columns(table: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The ``fields`` of a pyarrow Table or pandas DataFrame as lists of plain Python values (or numeric arrays)."""
    if isinstance(fields, str) or not fields:
        raise InputError(f"fields must be a non-empty sequence of column names, got {fields!r}")
    fields = list(fields)
    available = _column_names(table)
    missing = [f for f in fields if f not in available]
    if missing:
        raise InputError(f"the table has no column {missing}; it has {available}")
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return {f: _arrow_values(table.column(f)) for f in fields}
    return {f: _series_values(table[f]) for f in fields}


def _column_names(table: Any) -> list[str]:
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return list(table.column_names)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(table, pd.DataFrame):
        return [str(c) for c in table.columns]
    raise InputError(f"expected a pyarrow.Table or a pandas.DataFrame, got {type(table).__name__}")


def _arrow_values(column: Any) -> list[Any] | np.ndarray:
    """An Arrow column as plain Python values, nulls as ``None``.

    Equal-length numeric lists (embeddings, concept scores) become one ``(n_rows, width)``
    numpy array, which the sandbox sends as raw bytes: far faster than one Python float per
    value through ``to_pylist`` and pickle. Programs still see a tuple of floats per row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    if not (is_list and (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type))):
        return column.to_pylist()
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.flatten()
    n_rows = len(array)
    if n_rows == 0 or array.null_count or values.null_count:
        return column.to_pylist()
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
    else:
        lengths = pc.list_value_length(array).to_numpy()
        width = int(lengths[0])
        if not (lengths == width).all():
            return column.to_pylist()
    return values.to_numpy().reshape(n_rows, width)


def _series_values(series: Any) -> list[Any] | np.ndarray:
    """A pandas Series as plain Python values, missing values (NaN, NA, NaT) as ``None``."""
    import pyarrow as pa

    try:
        # Arrow turns numpy scalars, Timestamps and pandas' NA into Python values and nulls.
        return _arrow_values(pa.array(series, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # Mixed-type object columns: keep the Python objects, nulls as None.
        values = series.astype(object).tolist()
        for i in np.flatnonzero(series.isna().to_numpy()):
            values[i] = None
        return values
