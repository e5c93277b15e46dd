"""The sandbox worker: runs untrusted labeling programs over rows in a process of its own.

:mod:`alchemist_core.programs.sandbox` starts this file as a script (``python -P -s -S -B``, a scrubbed
environment, an empty scratch directory as cwd). It imports only the standard library, never
``alchemist_core`` or numpy, so that it starts in about 20 ms and holds nothing a program
could reach.

Protocol. stdin carries one pickle (protocol 5) of the request::

    {"programs": [(name, source), ...], "rows": {field: [value, ...]},
     "arrays": {field: (typecode, shape, bytes)}, "n_rows": int, "n_classes": int,
     "program_seconds": float, "allowed_imports": [module, ...], "memory_mb": int,
     "cpu_seconds": int}

``arrays`` holds numeric columns (embeddings, concept scores) as raw bytes for
``memoryview.cast``; a row of a 2-D one is a tuple of numbers.

stdout carries frames, each an 8-byte big-endian length and a pickle made only of builtin
values (dict, str, int, float, bool, None, bytes, list), so the parent can read them with
class lookup disabled: ``{"kind": "ready"}`` once the rows are built, one
``{"kind": "result", "index": j, ...}`` per program as it finishes, then ``{"kind": "done"}``;
or ``{"kind": "fatal", "error": ...}`` when the request itself cannot be used. Results stream,
so when a program kills this process the parent keeps every result written before it.

Each program runs in a fresh namespace with restricted builtins and an import hook limited
to the allow-list, which hands out views of the allowed modules (see :func:`_module_view`),
under a wall-clock timer (``ITIMER_REAL``) that raises :class:`_Timeout`,
a ``BaseException`` that ``except Exception`` cannot swallow. Votes are int8 bytes, ``0xFF``
being ``ABSTAIN`` (-1).
"""

import builtins
import gc
import os
import pickle
import random
import reprlib
import resource
import signal
import struct
import sys
import time
import types
import warnings

ABSTAIN_BYTE = 0xFF
MESSAGE_CHARS = 200
RECURSION_LIMIT = 2000
MAX_OPEN_FILES = 32

SAFE_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hex", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None", "Ellipsis", "NotImplemented",
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
    "LookupError", "NameError", "NotImplementedError", "OverflowError", "RecursionError",
    "RuntimeError", "StopIteration", "TypeError", "UnicodeError", "ValueError",
    "ZeroDivisionError", "MemoryError",
)  # fmt: skip

_CONTAINERS = frozenset({list, tuple, dict, set, bytearray})

# Module attributes that read or write attributes named by a string, dunders included
# (``update_wrapper(f, g, updated=("__globals__",))``): kept out of the module views.
HIDDEN_NAMES = frozenset({"update_wrapper", "wraps", "Formatter"})


class _Timeout(BaseException):
    """Raised by the alarm handler; a BaseException so ``except Exception`` does not catch it."""


_TIMED_OUT = object()
# Whether the alarm may raise: true only while a program runs, so a late signal never lands in
# the worker's own bookkeeping.
_armed = [False]


def _on_alarm(signum, frame):
    if _armed[0]:
        _armed[0] = False
        raise _Timeout


def _run_with_deadline(function, seconds):
    """``function()``'s result, its exception, or ``_TIMED_OUT`` once ``seconds`` have passed."""
    outcome = _TIMED_OUT
    try:
        _armed[0] = True
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            outcome = function()
        except Exception as error:
            outcome = error
        _armed[0] = False
    except _Timeout:
        # The handler disarms before raising, so the timeout cannot strike twice.
        outcome = _TIMED_OUT
    _armed[0] = False
    signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome


# -- what a program may use -------------------------------------------------------------------
def _no_print(*args, **kwargs):
    return None


def _module_view(module, views):
    """What a program sees of an allowed module: a fresh module holding its names.

    Left out: dunder names, :data:`HIDDEN_NAMES`, and the other modules it imported, which
    would lead past the allow-list (``statistics.sys.modules["os"]``, ``re.enum.bltns.open``);
    its own submodules (``collections.abc``) become views too. A view is fresh for each
    program, so nothing set on one reaches the next.
    """
    namespace = vars(module)
    cached = views.get(module.__name__)
    # Rebuilt when the module gained a name: a submodule imported since (``collections.abc``).
    if cached is not None and cached[0] == len(namespace):
        return cached[1]
    view = types.ModuleType(module.__name__)
    for key, value in list(namespace.items()):
        if (key.startswith("__") and key.endswith("__")) or key in HIDDEN_NAMES:
            continue
        if isinstance(value, types.ModuleType):
            if value.__name__ != f"{module.__name__}.{key}":
                continue
            value = _module_view(value, views)
        setattr(view, key, value)
    views[module.__name__] = (len(namespace), view)
    return view


def _restricted_import(allowed):
    real_import = builtins.__import__
    views = {}  # module name -> (size of its namespace, its view)

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise ImportError("relative imports are not allowed")
        parts = name.split(".")
        if parts[0] not in allowed or any(part.startswith("_") for part in parts):
            raise ImportError(f"import of {name!r} is not allowed; allowed modules are {sorted(allowed)}")
        for item in fromlist or ():
            if item == "*" or item.startswith("_"):
                raise ImportError(f"'from {name} import {item}' is not allowed")
        return _module_view(real_import(name, None, None, fromlist, 0), views)

    return _import


def _safe_builtins(allowed_imports):
    names = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    names["print"] = _no_print
    names["__import__"] = _restricted_import(frozenset(allowed_imports))
    return names


# -- rows ----------------------------------------------------------------------------------------
def _freeze(value):
    """A read-only copy of list/dict/set values, so no program can change what the next sees."""
    kind = type(value)
    if kind is list or kind is tuple:
        if any(map(_CONTAINERS.__contains__, map(type, value))):
            return tuple(map(_freeze, value))
        return value if kind is tuple else tuple(value)
    if kind is dict:
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if kind is set:
        return frozenset(value)
    if kind is bytearray:
        return bytes(value)
    return value


def _array_column(typecode, shape, data):
    """A numeric column sent as raw bytes: numbers, or a tuple of numbers per row."""
    values = memoryview(data).cast(typecode, shape).tolist()
    return list(map(tuple, values)) if len(shape) == 2 else values


def _build_rows(columns, arrays, n_rows):
    """One read-only mapping per row, built once and shared by every program."""
    fields = [*columns, *arrays]
    values = []
    for field in fields:
        if field in columns:
            column = columns[field]
            if any(map(_CONTAINERS.__contains__, map(type, column))):
                column = list(map(_freeze, column))
        else:
            column = _array_column(*arrays[field])
        if len(column) != n_rows:
            raise ValueError(f"column {field!r} has {len(column)} values; expected {n_rows}")
        values.append(column)
    proxy = types.MappingProxyType
    if not fields:
        return [proxy({})] * n_rows
    if len(fields) == 1:
        (field,) = fields
        return [proxy({field: value}) for value in values[0]]
    return [proxy(dict(zip(fields, row))) for row in zip(*values)]


# -- running one program ---------------------------------------------------------------------
def _truncate(text):
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def _describe_error(error):
    try:
        message = str(error)
    except Exception:
        message = "<unprintable>"
    return _truncate(f"{type(error).__name__}: {message}" if message else type(error).__name__)


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _repr.maxlong = MESSAGE_CHARS


def _short_repr(value):
    try:
        return _truncate(_repr.repr(value))
    except Exception:
        return f"<{type(value).__name__}>"


def _load(name, source, allowed_imports):
    """The program's ``label``, or a str saying why there is none."""
    namespace = {"__builtins__": _safe_builtins(allowed_imports), "__name__": f"alchemist_program_{name}"}
    try:
        code = compile(source, f"<program {name}>", "exec", dont_inherit=True)
        exec(code, namespace)
    except Exception as error:
        return f"module raised {_describe_error(error)}"
    label = namespace.get("label")
    if not callable(label):
        return "the module does not define a callable 'label'"
    return label


def _label_rows(label, rows, n_classes, votes):
    """Call ``label`` on every row, writing valid votes into ``votes``; returns the fault counts."""
    n_errors = n_invalid = 0
    first_error = first_invalid = None
    int_ = int
    type_ = type
    for i, row in enumerate(rows):
        try:
            vote = label(row)
        except Exception as error:
            n_errors += 1
            if first_error is None:
                first_error = f"row {i}: {_describe_error(error)}"
            continue
        # NB: bool is an int subclass; True is a fault, not class 1.
        if type_(vote) is int_ and -1 <= vote < n_classes:
            if vote >= 0:
                votes[i] = vote
        else:
            n_invalid += 1
            if first_invalid is None:
                first_invalid = (
                    f"row {i}: returned {_short_repr(vote)}; expected an int in -1..{n_classes - 1}"
                )
    return n_errors, n_invalid, first_error, first_invalid


def _forget_program():
    """Free what a finished program left behind, so it cannot starve the programs after it.

    A program's namespace is a reference cycle (``label`` refers to its globals), so its
    module-level data would wait for a full collection; compiled patterns stay in ``re``'s
    cache, shared by every program in this worker.
    """
    gc.collect()
    re = sys.modules.get("re")
    if re is not None:
        re.purge()


def _run_program(index, name, source, rows, n_classes, seconds, allowed_imports):
    n_rows = len(rows)
    votes = bytearray([ABSTAIN_BYTE]) * n_rows
    result = {
        "kind": "result", "index": index, "name": name, "n_errors": 0, "n_invalid": 0,
        "first_error": None, "first_invalid": None, "timed_out": False, "load_error": None,
    }  # fmt: skip

    def execute():
        label = _load(name, source, allowed_imports)
        if isinstance(label, str):
            return label
        return _label_rows(label, rows, n_classes, votes)

    # ``statistics.NormalDist().samples()`` draws from ``random``: the same seed for every
    # program keeps its votes the same from one run to the next.
    random.seed(0)
    start = time.perf_counter()
    outcome = _run_with_deadline(execute, seconds)
    result["seconds"] = time.perf_counter() - start
    if outcome is _TIMED_OUT:
        result["timed_out"] = True
        votes = bytearray([ABSTAIN_BYTE]) * n_rows
    elif isinstance(outcome, str):
        result["load_error"] = outcome
    elif isinstance(outcome, BaseException):
        # Raised outside a row (e.g. MemoryError while recording a fault): nothing is trusted.
        result["load_error"] = f"failed while running: {_describe_error(outcome)}"
        votes = bytearray([ABSTAIN_BYTE]) * n_rows
    else:
        result["n_errors"], result["n_invalid"], result["first_error"], result["first_invalid"] = outcome
    # An exception's traceback would keep the program's frames, and so its globals, alive.
    del outcome
    _forget_program()
    result["votes"] = bytes(votes)
    return result


# -- process set-up ---------------------------------------------------------------------------
def _private_stdout():
    """The protocol channel on a private descriptor; fd 1 then points at /dev/null."""
    channel = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return os.fdopen(channel, "wb")


def _limit(which, value, hard=None):
    _, current_hard = resource.getrlimit(which)
    hard = value if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def _apply_limits(memory_mb, cpu_seconds):
    """Set the process limits; returns the names of those the OS refused."""
    # A write past RLIMIT_FSIZE then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    refused = []
    wanted = [
        ("RLIMIT_CORE", 0, None),
        ("RLIMIT_FSIZE", 0, None),
        ("RLIMIT_NOFILE", MAX_OPEN_FILES, None),
        # Ignored for root; the import allow-list is what keeps programs from forking.
        ("RLIMIT_NPROC", 0, None),
        ("RLIMIT_CPU", int(cpu_seconds), int(cpu_seconds) + 5),
        ("RLIMIT_AS", int(memory_mb) * 1024 * 1024, None),
    ]
    for name, value, hard in wanted:
        try:
            _limit(getattr(resource, name), value, hard)
        except (ValueError, OSError, AttributeError):
            refused.append(name)
    sys.setrecursionlimit(RECURSION_LIMIT)
    return refused


def _write(channel, message):
    data = pickle.dumps(message, protocol=5)
    channel.write(struct.pack(">Q", len(data)))
    channel.write(data)
    channel.flush()


def main():
    channel = _private_stdout()
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, _on_alarm)
    # NB: while the request and rows are built, the collector would scan the growing heap of
    # new containers again and again; afterwards they live as long as the process, so they
    # move to the permanent generation, which later collections skip.
    gc.disable()
    try:
        request = pickle.loads(sys.stdin.buffer.read())
        programs = request["programs"]
        n_classes = int(request["n_classes"])
        seconds = float(request["program_seconds"])
        refused = _apply_limits(request["memory_mb"], request["cpu_seconds"])
        rows = _build_rows(request["rows"], request["arrays"], int(request["n_rows"]))
        allowed_imports = frozenset(request["allowed_imports"])
        del request
    except Exception as error:
        _write(channel, {"kind": "fatal", "error": _describe_error(error)})
        channel.close()
        os._exit(2)
    gc.freeze()
    gc.enable()
    _write(channel, {"kind": "ready", "refused_limits": refused})
    for index, (name, source) in enumerate(programs):
        _write(channel, _run_program(index, name, source, rows, n_classes, seconds, allowed_imports))
    _write(channel, {"kind": "done"})
    channel.close()
    # Skip interpreter teardown: freeing every row object one by one would only cost time.
    os._exit(0)


if __name__ == "__main__":
    main()
