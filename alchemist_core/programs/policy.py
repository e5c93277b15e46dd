"""The static sandbox policy for labeling programs.

Generated programs are untrusted. Before any of them reaches a worker process, its source is
parsed with :mod:`ast` and checked against a small, explicit policy: a top-level
``def label(x)``, imports only from :data:`ALLOWED_IMPORTS`, and none of the constructs that
reach interpreter internals (dunder names and attributes, frame and code objects,
``getattr`` and friends), run code from strings (``exec``, ``eval``, ``compile``), touch
the outside world (``open``, ``input``) or could swallow or outlast the sandbox's timeout
(``except BaseException``, bare ``except:``, ``finally``). The check is the first of two
layers: the worker (:mod:`alchemist_core.programs.sandbox`) also runs every program with restricted
builtins and an import hook that enforces the same allow-list.

Examples
--------
>>> check_program("import re\\ndef label(x):\\n    return 1 if re.search('free', x['text']) else -1\\n")
[]
>>> check_program("import os\\ndef label(x):\\n    return 0\\n")  # doctest: +ELLIPSIS
["line 1: import of 'os' is not allowed; allowed modules are collections, functools, ..."]
"""

from __future__ import annotations

import ast
import functools
import string
import warnings

from alchemist_core.digest import AST_LOCK, parse_python

ALLOWED_IMPORTS = frozenset(
    {"re", "math", "string", "collections", "itertools", "functools", "statistics", "unicodedata"}
)

MAX_SOURCE_BYTES = 100_000

FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "__import__", "globals", "locals", "vars", "getattr",
        "setattr", "delattr", "hasattr", "input", "breakpoint", "help", "memoryview", "type",
        "object", "super", "classmethod", "staticmethod", "property", "exit", "quit", "dir", "id",
        "hash", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit",
    }
)  # fmt: skip

# Attributes that hand out interpreter internals without a dunder: ``mro`` reaches
# ``BaseException`` (which could catch the timeout) and ``object``; ``Formatter`` and
# ``vformat`` resolve ``{0.attr}`` fields, i.e. attribute access hidden in a string;
# ``register`` changes an ABC shared with the programs that run next in the same worker;
# ``update_wrapper`` and ``wraps`` read and write attributes named by strings, dunders included.
FORBIDDEN_ATTRIBUTES = frozenset(
    {"mro", "Formatter", "vformat", "get_field", "with_traceback", "register", "update_wrapper", "wraps"}
)

# Generator, coroutine, frame, traceback and code object internals.
FORBIDDEN_ATTRIBUTE_PREFIXES = ("gi_", "cr_", "ag_", "f_", "tb_", "co_")

# Private attributes are forbidden except the public API of named tuples.
ALLOWED_PRIVATE_ATTRIBUTES = frozenset({"_replace", "_asdict", "_fields", "_make"})

_ALLOWED_LIST = ", ".join(sorted(ALLOWED_IMPORTS))


def check_program(source: str, *, name: str = "program") -> list[str]:
    """Every way ``source`` breaks the sandbox policy, as readable reasons.

    Parameters
    ----------
    source : str
        The program's Python source.
    name : str
        The program's name, used in the filename of syntax errors.

    Returns
    -------
    list of str
        One reason per violation, prefixed with its line where it has one; empty when the
        program is allowed.
    """
    if not isinstance(source, str):
        return [f"expected the program source as str, got {type(source).__name__}"]
    return list(_violations(source, name))


@functools.lru_cache(maxsize=2048)
def _violations(source: str, name: str) -> tuple[str, ...]:
    # NB: cached because every shard of a run checks the same programs again.
    size = len(source.encode("utf-8", errors="replace"))
    if size > MAX_SOURCE_BYTES:
        return (f"source is {size} bytes; the limit is {MAX_SOURCE_BYTES}",)
    with AST_LOCK, warnings.catch_warnings():
        # Invalid escape sequences and the like warn at parse time; they are not our business.
        warnings.simplefilter("ignore")
        try:
            tree = parse_python(source, filename=f"<program {name}>")
        except SyntaxError as error:
            return (f"line {error.lineno}: syntax error: {error.msg}",)
        except (RecursionError, MemoryError, ValueError) as error:
            return (f"source cannot be parsed ({_describe(error)}); is it nested too deeply?",)
        checker = _Checker()
        try:
            # compile() finds what the parser lets through ('return' outside a function, ...).
            compile(tree, f"<program {name}>", "exec", dont_inherit=True)
        except SyntaxError as error:
            checker.violations.append(f"line {error.lineno}: syntax error: {error.msg}")
        except (RecursionError, MemoryError, ValueError) as error:
            return (f"source cannot be compiled ({_describe(error)}); is it nested too deeply?",)
    checker.check(tree)
    return tuple(checker.violations)


class _Checker:
    """Walks a module's tree iteratively (a deeply nested program cannot exhaust the stack)."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def add(self, node: ast.AST, reason: str) -> None:
        line = getattr(node, "lineno", None)
        self.violations.append(f"line {line}: {reason}" if line is not None else reason)

    def check(self, tree: ast.Module) -> None:
        self.check_label(tree)
        # (node, inside a function)
        stack: list[tuple[ast.AST, bool]] = [(tree, False)]
        while stack:
            node, in_function = stack.pop()
            self.check_node(node, in_function)
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef))
            stack.extend((child, inner) for child in reversed(list(ast.iter_child_nodes(node))))
        self.violations.sort(key=_line_of)

    def check_label(self, tree: ast.Module) -> None:
        definitions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "label"]
        if not definitions:
            self.violations.append("no top-level 'def label(x)'; a program must define label(x) -> int")
            return
        if len(definitions) > 1:
            self.add(definitions[1], "'label' is defined more than once")
        args = definitions[-1].args
        n_positional = len(args.posonlyargs) + len(args.args)
        if n_positional != 1 or args.vararg or args.kwarg or args.kwonlyargs:
            self.add(definitions[-1], "label must take exactly one positional parameter, as in 'def label(x)'")

    def check_node(self, node: ast.AST, in_function: bool) -> None:
        handler = _NODE_CHECKS.get(type(node))
        if handler is not None:
            handler(self, node, in_function)

    # -- names and attributes ----------------------------------------------------------------
    def check_identifier(self, node: ast.AST, identifier: str | None, what: str) -> None:
        if identifier is None:
            return
        if _is_dunder(identifier):
            self.add(node, f"{what} {identifier!r} is a dunder name; dunder names are not allowed")
        elif identifier in FORBIDDEN_NAMES:
            self.add(node, f"{what} {identifier!r} is not allowed")

    def check_attribute_name(self, node: ast.AST, attribute: str) -> None:
        if _is_dunder(attribute):
            self.add(node, f"attribute {attribute!r} is a dunder attribute; dunder attributes are not allowed")
        elif attribute.startswith("_") and attribute not in ALLOWED_PRIVATE_ATTRIBUTES:
            self.add(node, f"attribute {attribute!r} is private; private attributes are not allowed")
        elif attribute.startswith(FORBIDDEN_ATTRIBUTE_PREFIXES):
            self.add(node, f"attribute {attribute!r} reaches frame, generator or code internals")
        elif attribute in FORBIDDEN_ATTRIBUTES:
            self.add(node, f"attribute {attribute!r} is not allowed")

    def visit_name(self, node: ast.Name, in_function: bool) -> None:
        self.check_identifier(node, node.id, "name")

    def visit_attribute(self, node: ast.Attribute, in_function: bool) -> None:
        self.check_attribute_name(node, node.attr)
        if not isinstance(node.ctx, ast.Load):
            # Assigning attributes could patch a shared module (re.compile = ...) for the
            # programs that run after this one in the same worker.
            self.add(node, f"assigning or deleting attribute {node.attr!r} is not allowed")
        if node.attr in ("format", "format_map") and not _is_safe_format_string(node.value):
            self.add(
                node,
                f"'.{node.attr}' is only allowed on a string literal whose fields have no '.' "
                "(format fields can read attributes)",
            )

    def visit_function(self, node: ast.FunctionDef | ast.Lambda, in_function: bool) -> None:
        if isinstance(node, ast.FunctionDef):
            self.check_identifier(node, node.name, "function name")
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                self.check_identifier(node, arg.arg, "parameter")

    def visit_keyword(self, node: ast.keyword, in_function: bool) -> None:
        self.check_identifier(node, node.arg, "keyword argument")

    def visit_alias(self, node: ast.alias, in_function: bool) -> None:
        self.check_identifier(node, node.asname, "import alias")

    def visit_match_class(self, node: ast.MatchClass, in_function: bool) -> None:
        # ``case C(attr=v)`` reads ``x.attr``: the same rules as an attribute.
        for attribute in node.kwd_attrs:
            self.check_attribute_name(node, attribute)
            if attribute in ("format", "format_map"):
                # ``case str(format=f)`` binds the method of a string that is no literal.
                self.add(
                    node, f"reading {attribute!r} in a class pattern is not allowed (format fields can read attributes)"
                )

    def visit_capture(self, node: ast.MatchAs | ast.MatchStar, in_function: bool) -> None:
        self.check_identifier(node, node.name, "name")

    def visit_match_mapping(self, node: ast.MatchMapping, in_function: bool) -> None:
        self.check_identifier(node, node.rest, "name")

    # -- imports -----------------------------------------------------------------------------
    def visit_import(self, node: ast.Import, in_function: bool) -> None:
        for alias in node.names:
            self.check_module(node, alias.name)

    def visit_import_from(self, node: ast.ImportFrom, in_function: bool) -> None:
        if node.level:
            self.add(node, "relative imports are not allowed")
            return
        self.check_module(node, node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self.add(node, f"'from {node.module} import *' is not allowed; import the names you use")
            else:
                self.check_identifier(node, alias.name, "imported name")
                if alias.name in FORBIDDEN_ATTRIBUTES:
                    self.add(node, f"importing {alias.name!r} is not allowed")
                if alias.name.startswith("_"):
                    self.add(node, f"importing private name {alias.name!r} is not allowed")

    def check_module(self, node: ast.AST, module: str) -> None:
        parts = module.split(".")
        if parts[0] not in ALLOWED_IMPORTS:
            self.add(node, f"import of {module!r} is not allowed; allowed modules are {_ALLOWED_LIST}")
        elif any(part.startswith("_") for part in parts):
            self.add(node, f"import of private module {module!r} is not allowed")

    # -- statements and expressions ----------------------------------------------------------
    def visit_handler(self, node: ast.ExceptHandler, in_function: bool) -> None:
        if node.type is None:
            self.add(node, "bare 'except:' is not allowed (it would catch the timeout); use 'except Exception:'")
        elif isinstance(node.type, ast.Name) and node.type.id == "BaseException":
            self.add(
                node, "'except BaseException' is not allowed (it would catch the timeout); use 'except Exception:'"
            )
        self.check_identifier(node, node.name, "name")

    def visit_try(self, node: ast.Try, in_function: bool) -> None:
        if node.finalbody:
            self.add(node, "'finally' is not allowed (it could outlast the timeout)")

    def visit_yield(self, node: ast.Yield | ast.YieldFrom, in_function: bool) -> None:
        if not in_function:
            self.add(node, "'yield' outside a function is not allowed")


def _forbidden(reason: str):
    def handler(checker: _Checker, node: ast.AST, in_function: bool) -> None:
        checker.add(node, reason)

    return handler


_NODE_CHECKS = {
    ast.Name: _Checker.visit_name,
    ast.Attribute: _Checker.visit_attribute,
    ast.FunctionDef: _Checker.visit_function,
    ast.Lambda: _Checker.visit_function,
    ast.keyword: _Checker.visit_keyword,
    ast.alias: _Checker.visit_alias,
    ast.MatchClass: _Checker.visit_match_class,
    ast.MatchAs: _Checker.visit_capture,
    ast.MatchStar: _Checker.visit_capture,
    ast.MatchMapping: _Checker.visit_match_mapping,
    ast.Import: _Checker.visit_import,
    ast.ImportFrom: _Checker.visit_import_from,
    ast.ExceptHandler: _Checker.visit_handler,
    ast.Try: _Checker.visit_try,
    ast.Yield: _Checker.visit_yield,
    ast.YieldFrom: _Checker.visit_yield,
    ast.TryStar: _forbidden("'except*' is not allowed"),
    ast.Global: _forbidden("'global' statements are not allowed"),
    ast.Nonlocal: _forbidden("'nonlocal' statements are not allowed"),
    ast.ClassDef: _forbidden("class definitions are not allowed; use functions, dicts and tuples"),
    ast.With: _forbidden("'with' statements are not allowed"),
    ast.AsyncWith: _forbidden("'async with' is not allowed"),
    ast.AsyncFunctionDef: _forbidden("'async def' is not allowed"),
    ast.AsyncFor: _forbidden("'async for' is not allowed"),
    ast.Await: _forbidden("'await' is not allowed"),
}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _is_dunder(identifier: str) -> bool:
    return len(identifier) > 4 and identifier.startswith("__") and identifier.endswith("__")


def _is_safe_format_string(node: ast.AST) -> bool:
    """True for a str literal whose replacement fields read no attribute (no '.', no nested field)."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    try:
        fields = list(string.Formatter().parse(node.value))
    except ValueError:
        return False
    for _, field_name, format_spec, _ in fields:
        if field_name and "." in field_name:
            return False
        if format_spec and "{" in format_spec:
            return False
    return True


def _line_of(reason: str) -> int:
    if reason.startswith("line "):
        head = reason[5:].split(":", 1)[0]
        if head.isdigit():
            return int(head)
    return 0
