"""Running untrusted labeling programs: the one module that does it.

Generated programs are untrusted code, so they never run in the calling process. A program
set goes through two layers:

1. the static policy (:mod:`alchemist_core.programs.policy`): a program that breaks it is quarantined
   with the reasons and never reaches a worker;
2. a worker process (:mod:`alchemist_core.programs.sandbox_worker`, stdlib only) started with
   :class:`subprocess.Popen`, in its own session, with a scrubbed environment and an empty
   scratch directory as cwd. It sets its own limits (address space, CPU time, no file writes,
   few descriptors, no child processes), runs each program in a fresh namespace with
   restricted builtins and a restricted import hook, and stops a program that overruns its
   wall-clock budget with a timer.

The parent watches the worker too: results stream back one program at a time, and when no
result arrives within a program's budget plus a grace period (a program stuck in C code does
not see the timer), the worker's process group is killed. When a worker dies or is killed,
the program that was running is re-run alone; if it kills that worker as well it is
quarantined and its column is all ``ABSTAIN``, and the programs after it go on in a new
worker. So a run never raises because of what a program does.

``subprocess`` rather than ``multiprocessing``: Dask worker processes are daemonic and may
not start ``multiprocessing`` children.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from alchemist_core.errors import AlchemistError, InputError
from alchemist_core.programs import sandbox_worker
from alchemist_core.programs.policy import ALLOWED_IMPORTS, check_program
from alchemist_core.programs.program_set import ABSTAIN, ProgramSet

logger = logging.getLogger(__name__)

# Imported (stdlib only, nothing runs on import) so that the worker counts in the code digest of
# every task that runs programs; it is started as a script from its file.
WORKER_PATH = Path(sandbox_worker.__file__)

# -P -s -S -B: no script directory, user site or site-packages on sys.path, no .pyc writes.
# Not -I: it implies -E, which would ignore the PYTHONHASHSEED that keeps set order (and so
# a program's votes) the same in every worker; the environment is ours alone anyway.
WORKER_COMMAND = (sys.executable, "-P", "-s", "-S", "-B", str(WORKER_PATH))
WORKER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}

MAX_CLASSES = 127  # votes are int8

# Time the worker gets to start and build its rows before the first program, plus a little per
# value sent; and the grace after a program's budget before the parent stops waiting.
_STARTUP_SECONDS = 10.0
_STARTUP_SECONDS_PER_VALUE = 2e-6
_GRACE_SECONDS = 1.0
_GRACE_FRACTION = 0.1

_FRAME_HEADER = struct.Struct(">Q")
# numpy dtype chars that memoryview.cast understands (native byte order, C layout)
_ARRAY_TYPECODES = frozenset("?bBhHiIlLqQfd")
_CHUNK = 1 << 20
_STDERR_CHARS = 400


@dataclass(frozen=True)
class ProgramFaults:
    """What went wrong with one program on one partition.

    Parameters
    ----------
    n_errors : int
        Rows on which the program raised (it abstains there).
    n_invalid : int
        Rows on which it returned something other than an int in ``-1..n_classes-1``
        (``True``, ``'spam'``, ``None``, ``nan``, ``7``...); it abstains there.
    timed_out : bool
        It overran its wall-clock budget; it abstains on every row.
    quarantined : str or None
        Why its votes were discarded without running it to the end: it breaks the sandbox
        policy, its module failed to load, or it killed its worker process.
    first_error : str or None
        The first error, ``"row 3: KeyError: 'text'"``, truncated.
    seconds : float
        Wall-clock time spent running it.
    first_invalid : str or None
        The first invalid output, ``"row 5: returned 'spam'; expected an int in -1..1"``.
    """

    n_errors: int
    n_invalid: int
    timed_out: bool
    quarantined: str | None
    first_error: str | None
    seconds: float
    first_invalid: str | None = None

    @property
    def ok(self) -> bool:
        """True when the program ran everywhere without a single fault."""
        return not (self.n_errors or self.n_invalid or self.timed_out or self.quarantined)


@dataclass(frozen=True)
class PartitionLabels:
    """The votes of a program set on one partition.

    Parameters
    ----------
    L : numpy.ndarray
        ``(n_rows, n_programs)`` int8 votes, ``ABSTAIN = -1``; columns in program-set order.
    program_names : tuple of str
        The programs, one per column of ``L``.
    faults : mapping of str to ProgramFaults
        Per program name.
    """

    L: np.ndarray
    program_names: tuple[str, ...]
    faults: Mapping[str, ProgramFaults] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.L.shape[0])


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for running programs in a worker process.

    Parameters
    ----------
    program_seconds : float
        Wall-clock budget of one program for one call (all rows of a partition). A program
        that overruns it abstains on every row and is reported as timed out.
    memory_mb : int
        Address-space limit of the worker process, in MiB. An allocation past it raises
        ``MemoryError`` inside the program (a fault on that row).
    cpu_seconds : int or None
        CPU-time limit of the worker process; ``None`` derives a generous one from
        ``program_seconds`` and the number of programs. A backstop: the wall-clock budget
        normally stops a program first.
    """

    program_seconds: float = 30.0
    memory_mb: int = 2048
    cpu_seconds: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.program_seconds, (int, float)) and self.program_seconds > 0):
            raise ValueError(f"program_seconds must be a positive number, got {self.program_seconds!r}")
        if not (isinstance(self.memory_mb, int) and self.memory_mb >= 64):
            raise ValueError(f"memory_mb must be an int of at least 64, got {self.memory_mb!r}")
        if self.cpu_seconds is not None and not (isinstance(self.cpu_seconds, int) and self.cpu_seconds > 0):
            raise ValueError(f"cpu_seconds must be None or a positive int, got {self.cpu_seconds!r}")

    def cpu_seconds_for(self, n_programs: int) -> int:
        """The CPU-time limit of a worker that runs ``n_programs`` programs."""
        if self.cpu_seconds is not None:
            return self.cpu_seconds
        return int(math.ceil(2 * self.program_seconds * max(n_programs, 1))) + 10


def run_programs(
    rows: Mapping[str, Sequence[Any]],
    programs: ProgramSet,
    n_classes: int,
    *,
    limits: SandboxLimits = SandboxLimits(),
) -> PartitionLabels:
    """Run every program on every row in sandboxed worker processes.

    Parameters
    ----------
    rows : mapping of str to sequence
        The input fields, column-wise: ``{field: values}``, all of the same length. Values
        must be plain Python values (str, int, float, bool, None, bytes, datetimes, lists and
        dicts of them); each program sees one read-only mapping per row.
    programs : ProgramSet
        The programs, in column order.
    n_classes : int
        Number of classes; a valid vote is an int in ``-1..n_classes-1``.
    limits : SandboxLimits
        Time and memory limits.

    Returns
    -------
    PartitionLabels
        ``L`` of shape ``(n_rows, n_programs)``, int8, ``ABSTAIN`` where a program abstained,
        raised, returned an invalid value, timed out or was quarantined; and per-program faults.

    Raises
    ------
    ValueError
        When ``n_classes`` is out of range or the columns differ in length.
    InputError
        When the worker cannot read the rows (values that are not plain Python values).
    AlchemistError
        When the worker process fails before running any program (not a program's doing).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or not 1 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"n_classes must be an int in 1..{MAX_CLASSES} (votes are int8), got {n_classes!r}")
    columns, n_rows = _plain_columns(rows)

    faults: dict[str, ProgramFaults] = {}
    L = np.full((n_rows, len(programs)), ABSTAIN, dtype=np.int8)  # (n_rows, n_programs)
    runnable: list[tuple[str, str]] = []
    for program in programs:
        violations = check_program(program.source, name=program.name)
        if violations:
            reason = "breaks the sandbox policy: " + "; ".join(violations)
            logger.warning("program %r quarantined: %s", program.name, reason)
            faults[program.name] = _quarantined(reason)
        else:
            runnable.append((program.name, program.source))

    outcomes = _run_isolating(runnable, columns, n_rows, n_classes, limits, ALLOWED_IMPORTS)
    for j, name in enumerate(programs.names):
        if name not in outcomes:
            continue
        votes, program_faults = outcomes[name]
        faults[name] = program_faults
        if votes is not None:
            L[:, j] = votes
    return PartitionLabels(L=L, program_names=tuple(programs.names), faults=faults)


# -- isolating the program that kills its worker ----------------------------------------------
@dataclass
class _WorkerRun:
    results: list[dict[str, Any]] = field(default_factory=list)  # in program order
    ready: bool = False
    completed: bool = False
    failure: str | None = None  # why the worker did not complete
    hung: bool = False  # killed because no result arrived in time
    unusable_rows: bool = False  # the worker said it could not build the rows


def _run_isolating(
    sources: Sequence[tuple[str, str]],
    columns: Mapping[str, list[Any] | np.ndarray],
    n_rows: int,
    n_classes: int,
    limits: SandboxLimits,
    allowed_imports: frozenset[str],
) -> dict[str, tuple[np.ndarray | None, ProgramFaults]]:
    """Outcome of each program; a program that kills its worker even when alone is quarantined."""
    outcomes: dict[str, tuple[np.ndarray | None, ProgramFaults]] = {}
    pending = list(sources)
    while pending:
        run = _run_worker(pending, columns, n_rows, n_classes, limits, allowed_imports)
        for result in run.results:
            outcomes[result["name"]] = _outcome(result, limits)
        if run.completed:
            break
        # Results stream in program order, so the first program without one was running.
        culprit = pending[len(run.results)]
        rest = pending[len(run.results) + 1 :]
        if len(pending) > 1:
            solo = _run_worker([culprit], columns, n_rows, n_classes, limits, allowed_imports)
            if solo.completed:
                outcomes[culprit[0]] = _outcome(solo.results[0], limits)
                pending = rest
                continue
            run = solo
        outcomes[culprit[0]] = (None, _killed_faults(culprit[0], run, limits))
        pending = rest
    return outcomes


def _outcome(result: Mapping[str, Any], limits: SandboxLimits) -> tuple[np.ndarray | None, ProgramFaults]:
    """Votes (None when discarded) and faults of one result frame."""
    name = result["name"]
    if result["load_error"] is not None:
        reason = f"could not be loaded: {result['load_error']}"
        logger.warning("program %r quarantined: %s", name, reason)
        return None, _quarantined(reason, seconds=result["seconds"])
    if result["timed_out"]:
        logger.warning("program %r timed out after %.3g s; its votes are discarded", name, limits.program_seconds)
    votes = None if result["timed_out"] else np.frombuffer(result["votes"], dtype=np.int8)
    faults = ProgramFaults(
        n_errors=result["n_errors"],
        n_invalid=result["n_invalid"],
        timed_out=result["timed_out"],
        quarantined=None,
        first_error=result["first_error"],
        seconds=result["seconds"],
        first_invalid=result["first_invalid"],
    )
    return votes, faults


def _quarantined(reason: str, *, timed_out: bool = False, seconds: float = 0.0) -> ProgramFaults:
    return ProgramFaults(
        n_errors=0, n_invalid=0, timed_out=timed_out, quarantined=reason, first_error=None, seconds=seconds
    )


def _killed_faults(name: str, run: _WorkerRun, limits: SandboxLimits) -> ProgramFaults:
    if run.hung:
        reason = (
            f"ignored its {limits.program_seconds:g} s time limit (stuck where the timer cannot reach, "
            "e.g. a long C-level loop) and its worker was killed"
        )
    else:
        reason = f"killed its worker process: {run.failure}"
    logger.warning("program %r quarantined: %s", name, reason)
    return _quarantined(reason, timed_out=run.hung)


# -- one worker process ------------------------------------------------------------------------
class _PlainUnpickler(pickle.Unpickler):
    """Reads only builtin values: the worker ran untrusted code, so its output may be hostile."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the worker sent a reference to {module}.{name}; only builtin values are allowed")


class _ProtocolError(Exception):
    pass


_RESULT_FIELDS = {
    "n_errors": (int,), "n_invalid": (int,), "timed_out": (bool,), "seconds": (float,),
    "first_error": (str, type(None)), "first_invalid": (str, type(None)), "load_error": (str, type(None)),
}  # fmt: skip


def _run_worker(
    sources: Sequence[tuple[str, str]],
    columns: Mapping[str, list[Any] | np.ndarray],
    n_rows: int,
    n_classes: int,
    limits: SandboxLimits,
    allowed_imports: frozenset[str],
) -> _WorkerRun:
    """Run ``sources`` in one fresh worker process; what it returned before it finished or died."""
    lists, arrays = _request_columns(columns)
    request = {
        "programs": list(sources),
        "rows": lists,
        "arrays": arrays,
        "n_rows": n_rows,
        "n_classes": n_classes,
        "program_seconds": float(limits.program_seconds),
        "allowed_imports": sorted(allowed_imports),
        "memory_mb": limits.memory_mb,
        "cpu_seconds": limits.cpu_seconds_for(len(sources)),
    }
    try:
        payload = pickle.dumps(request, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise InputError(
            f"rows must hold plain Python values (str, int, float, bool, None, lists, dicts): {error}"
        ) from None
    n_values = sum(np.size(values) if isinstance(values, np.ndarray) else n_rows for values in columns.values())
    startup_seconds = _STARTUP_SECONDS + _STARTUP_SECONDS_PER_VALUE * n_values
    scratch = tempfile.mkdtemp(prefix="alchemist-sandbox-")
    try:
        process = subprocess.Popen(
            WORKER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(WORKER_ENV),
            cwd=scratch,
            start_new_session=True,
            close_fds=True,
        )
        try:
            run = _supervise(process, payload, [name for name, _ in sources], n_rows, limits, startup_seconds)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if run.unusable_rows:
        raise InputError(
            f"the sandbox worker could not use the rows ({run.failure}); they must hold plain Python values "
            "(str, int, float, bool, None, bytes, datetimes, lists and dicts of them) and fit in "
            f"SandboxLimits.memory_mb = {limits.memory_mb} MiB"
        )
    if not run.ready:
        raise AlchemistError(
            f"the sandbox worker failed before running any program ({run.failure}); "
            f"check that SandboxLimits.memory_mb = {limits.memory_mb} MiB holds the partition's rows"
        )
    return run


def _supervise(
    process: subprocess.Popen,
    payload: bytes,
    names: list[str],
    n_rows: int,
    limits: SandboxLimits,
    startup_seconds: float,
) -> _WorkerRun:
    """Feed the request, read result frames, and kill the worker when a result is overdue."""
    run = _WorkerRun()
    program_budget = limits.program_seconds * (1 + _GRACE_FRACTION) + _GRACE_SECONDS
    max_frame = n_rows + 64_000
    deadline = time.monotonic() + startup_seconds
    buffer = bytearray()
    stderr_tail = b""
    sent = 0
    view = memoryview(payload)

    selector = selectors.DefaultSelector()
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    for pipe in (stdin, stdout, stderr):
        os.set_blocking(pipe.fileno(), False)
    selector.register(stdin, selectors.EVENT_WRITE)
    selector.register(stdout, selectors.EVENT_READ)
    selector.register(stderr, selectors.EVENT_READ)
    try:
        while stdout in _registered(selector):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.hung = True
                run.failure = "no result within the time limit"
                break
            for key, _ in selector.select(remaining):
                if key.fileobj is stdin:
                    try:
                        sent += os.write(stdin.fileno(), view[sent : sent + _CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the worker died before reading everything
                        sent = len(payload)
                    if sent >= len(payload):
                        selector.unregister(stdin)
                        stdin.close()
                elif key.fileobj is stderr:
                    chunk = _read(stderr)
                    if chunk is None:
                        continue
                    if chunk:
                        stderr_tail = (stderr_tail + chunk)[-4 * _STDERR_CHARS :]
                    else:
                        selector.unregister(stderr)
                else:
                    chunk = _read(stdout)
                    if chunk is None:
                        continue
                    if not chunk:
                        selector.unregister(stdout)
                        continue
                    buffer += chunk
                    try:
                        for frame in _frames(buffer, max_frame):
                            _accept(frame, run, names, n_rows)
                    except _ProtocolError as error:
                        run.failure = f"broke the worker protocol: {error}"
                        selector.unregister(stdout)
                        break
                    # Every frame starts the clock for the next program.
                    deadline = time.monotonic() + program_budget
    finally:
        selector.close()
    if not run.completed and run.failure is None:
        run.failure = _describe_exit(process, stderr_tail)
    return run


def _read(pipe: Any) -> bytes | None:
    """What the pipe holds (``b""`` at its end), or None when a wake-up was spurious."""
    try:
        return os.read(pipe.fileno(), _CHUNK)
    except BlockingIOError:
        return None


def _registered(selector: selectors.BaseSelector) -> list[Any]:
    return [key.fileobj for key in selector.get_map().values()]


def _frames(buffer: bytearray, max_frame: int):
    """Complete frames at the start of ``buffer``, removed from it as they are read."""
    while len(buffer) >= _FRAME_HEADER.size:
        (size,) = _FRAME_HEADER.unpack_from(buffer)
        if size > max_frame:
            raise _ProtocolError(f"a frame of {size} bytes, more than the {max_frame} expected")
        end = _FRAME_HEADER.size + size
        if len(buffer) < end:
            return
        data = bytes(buffer[_FRAME_HEADER.size : end])
        del buffer[:end]
        try:
            yield _PlainUnpickler(io.BytesIO(data)).load()
        except Exception as error:
            raise _ProtocolError(f"an unreadable frame ({type(error).__name__}: {error})") from None


def _accept(frame: Any, run: _WorkerRun, names: list[str], n_rows: int) -> None:
    if not isinstance(frame, dict):
        raise _ProtocolError(f"a frame of type {type(frame).__name__}")
    kind = frame.get("kind")
    if kind == "fatal" and not run.ready:
        run.failure = str(frame.get("error"))
        run.unusable_rows = True
    elif kind == "ready" and not run.ready:
        run.ready = True
        if frame.get("refused_limits"):
            logger.debug("the sandbox worker could not set %s", frame["refused_limits"])
    elif kind == "result" and run.ready and not run.completed:
        index = len(run.results)
        if frame.get("index") != index or index >= len(names) or frame.get("name") != names[index]:
            raise _ProtocolError(f"a result for {frame.get('name')!r} where one for program #{index} was due")
        votes = frame.get("votes")
        if not isinstance(votes, bytes) or len(votes) != n_rows:
            raise _ProtocolError(f"a votes column that is not {n_rows} bytes")
        for key, kinds in _RESULT_FIELDS.items():
            if type(frame.get(key)) not in kinds:
                raise _ProtocolError(f"a result whose {key!r} is a {type(frame.get(key)).__name__}")
        run.results.append(frame)
    elif kind == "done" and run.ready and len(run.results) == len(names):
        run.completed = True
    else:
        raise _ProtocolError(f"an unexpected {kind!r} frame")


def _describe_exit(process: subprocess.Popen, stderr_tail: bytes) -> str:
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return "the worker stopped sending results"
    if code < 0:
        try:
            what = f"terminated by {signal.Signals(-code).name}"
        except ValueError:
            what = f"terminated by signal {-code}"
        if -code == signal.SIGXCPU:
            what += " (CPU-time limit)"
    else:
        what = f"exited with status {code}"
    detail = stderr_tail.decode("utf-8", errors="replace").strip()[-_STDERR_CHARS:]
    return f"{what}; stderr: {detail}" if detail else what


def _stop(process: subprocess.Popen) -> None:
    """Kill the worker's whole process group, if it still runs, and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _plain_columns(rows: Mapping[str, Sequence[Any]]) -> tuple[dict[str, list[Any] | np.ndarray], int]:
    """Columns as lists of plain Python values (or numeric arrays), and their common length."""
    if not isinstance(rows, Mapping):
        raise TypeError(f"rows must be a mapping of field name to column values, got {type(rows).__name__}")
    columns: dict[str, list[Any] | np.ndarray] = {}
    for field_name, values in rows.items():
        if isinstance(values, np.ndarray):
            columns[str(field_name)] = values if _is_sendable_array(values) else values.tolist()
        elif isinstance(values, list):
            columns[str(field_name)] = values
        else:
            columns[str(field_name)] = list(values)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"every column must have the same number of values, got {lengths}")
    n_rows = next(iter(lengths.values()), 0)
    return columns, n_rows


def _is_sendable_array(values: np.ndarray) -> bool:
    """Whether the worker can rebuild ``values`` from raw bytes (``memoryview.cast``)."""
    return values.ndim in (1, 2) and values.size > 0 and values.dtype.char in _ARRAY_TYPECODES


def _request_columns(columns: Mapping[str, list[Any] | np.ndarray]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Split columns into lists and numeric arrays sent as ``(typecode, shape, bytes)``.

    Raw bytes spare pickling one Python float per embedding dimension and row.
    """
    lists: dict[str, list[Any]] = {}
    arrays: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    for name, values in columns.items():
        if isinstance(values, np.ndarray):
            native = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
            arrays[name] = (native.dtype.char, tuple(native.shape), native.tobytes())
        else:
            lists[name] = values
    return lists, arrays
