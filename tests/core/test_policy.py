import doctest

import pytest

from alchemist_core import LabelingProgram, ProgramPolicyError
from alchemist_core.programs import policy
from alchemist_core.programs.policy import (
    ALLOWED_IMPORTS,
    MAX_SOURCE_BYTES,
    check_program,
)

KEYWORD_PROGRAM = '''\
"""Spam when the comment asks to subscribe or links out."""
import re
from collections import Counter

LINK = re.compile(r"https?://|www\\.")
WORDS = ("subscribe", "check out", "my channel")


def label(x):
    text = (x.get("text") or "").lower()
    counts = Counter(text.split())
    if LINK.search(text) or any(w in text for w in WORDS):
        return 1
    if counts["song"] > 0 and len(text) < 40:
        return 0
    return -1
'''


def _wrap(body: str) -> str:
    return "def label(x):\n" + "".join(f"    {line}\n" for line in body.splitlines())


def test_keyword_and_regex_program_is_allowed():
    assert check_program(KEYWORD_PROGRAM) == []


@pytest.mark.parametrize(
    "source",
    [
        # lambdas, comprehensions, helpers, del of a name, every allowed module
        "import math, string, itertools, functools, statistics, unicodedata, collections.abc\n"
        "score = lambda t: sum(1 for c in t if c in string.punctuation)\n"
        "def helper(t):\n    return [w for w in t.split() if w]\n"
        "def label(x):\n    words = helper(x['text'])\n    n = len(words)\n    del words\n"
        "    return 1 if score(x['text']) > math.log(n + 1) else -1\n",
        # a literal format string without attribute fields; named tuples' public API
        "from collections import namedtuple\nP = namedtuple('P', 'a b')\n"
        "def label(x):\n    p = P(1, 2)._replace(a=0)\n    return 0 if '{}-{:.1f}'.format(p.a, 2.0) else -1\n",
        # except Exception is how a program should guard itself
        _wrap("try:\n    return int(x['n']) % 2\nexcept Exception:\n    return -1"),
        # yield inside a helper function
        "def words(t):\n    yield from t.split()\ndef label(x):\n    return 1 if 'a' in list(words(x['t'])) else -1\n",
    ],
)
def test_ordinary_programs_are_allowed(source):
    assert check_program(source) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def label(x)\n    return 1\n", "line 1: syntax error"),
        ("def classify(x):\n    return 1\n", "no top-level 'def label(x)'"),
        ("def label(x, y):\n    return 1\n", "exactly one positional parameter"),
        ("def label(*rows):\n    return 1\n", "exactly one positional parameter"),
        ("def label():\n    return 1\n", "exactly one positional parameter"),
        ("def label(x):\n    return 1\ndef label(x):\n    return 0\n", "defined more than once"),
        ("import os\n" + _wrap("return 1"), "import of 'os' is not allowed"),
        ("import os.path\n" + _wrap("return 1"), "import of 'os.path' is not allowed"),
        ("from subprocess import run\n" + _wrap("return 1"), "import of 'subprocess' is not allowed"),
        ("from re import *\n" + _wrap("return 1"), "'from re import *' is not allowed"),
        ("from . import re\n" + _wrap("return 1"), "relative imports are not allowed"),
        ("import re._parser\n" + _wrap("return 1"), "private module"),
        ("from re import _compile\n" + _wrap("return 1"), "private name"),
        (_wrap("return x.__class__"), "'__class__' is a dunder attribute"),
        (_wrap("return ().__class__.__bases__[0].__subclasses__()"), "'__subclasses__' is a dunder attribute"),
        (_wrap("return label.__globals__"), "'__globals__' is a dunder attribute"),
        (_wrap("return __builtins__"), "'__builtins__' is a dunder name"),
        (_wrap("return __import__('os')"), "'__import__' is a dunder name"),
        (_wrap("return __name__"), "'__name__' is a dunder name"),
        (_wrap("return exec('1')"), "name 'exec' is not allowed"),
        (_wrap("return eval('1')"), "name 'eval' is not allowed"),
        (_wrap("return compile('1', 'f', 'eval')"), "name 'compile' is not allowed"),
        (_wrap("return open('/etc/passwd')"), "name 'open' is not allowed"),
        (_wrap("return len(globals())"), "name 'globals' is not allowed"),
        (_wrap("return len(locals())"), "name 'locals' is not allowed"),
        (_wrap("return vars(x)"), "name 'vars' is not allowed"),
        (_wrap("return getattr(x, 'get')"), "name 'getattr' is not allowed"),
        (_wrap("setattr(x, 'a', 1)\nreturn 1"), "name 'setattr' is not allowed"),
        (_wrap("delattr(x, 'a')\nreturn 1"), "name 'delattr' is not allowed"),
        (_wrap("return int(input())"), "name 'input' is not allowed"),
        (_wrap("breakpoint()\nreturn 1"), "name 'breakpoint' is not allowed"),
        (_wrap("help(x)\nreturn 1"), "name 'help' is not allowed"),
        (_wrap("return memoryview(b'a')[0]"), "name 'memoryview' is not allowed"),
        (_wrap("return type(x)"), "name 'type' is not allowed"),
        (_wrap("return object()"), "name 'object' is not allowed"),
        (_wrap("return super()"), "name 'super' is not allowed"),
        (_wrap("exit()"), "name 'exit' is not allowed"),
        (_wrap("quit()"), "name 'quit' is not allowed"),
        (_wrap("return len(dir(x))"), "name 'dir' is not allowed"),
        (_wrap("return id(x) % 2"), "name 'id' is not allowed"),
        (_wrap("return hash(x['text']) % 2"), "name 'hash' is not allowed"),
        (_wrap("f = classmethod\nreturn 1"), "name 'classmethod' is not allowed"),
        (_wrap("g = (i for i in [1])\nreturn g.gi_frame"), "'gi_frame' reaches frame"),
        (_wrap("g = (i for i in [1])\nreturn g.gi_code.co_code"), "'co_code' reaches frame"),
        (_wrap("try:\n    1 / 0\nexcept Exception as e:\n    return e.__traceback__.tb_frame.f_globals"), "'tb_frame'"),
        (_wrap("try:\n    1 / 0\nexcept Exception as e:\n    return e.with_traceback(None)"), "'with_traceback'"),
        (_wrap("return len(ValueError.mro())"), "attribute 'mro' is not allowed"),
        ("import re\n" + _wrap("return len(re._cache)"), "'_cache' is private"),
        ("import re\n" + _wrap("re.search = None\nreturn 1"), "assigning or deleting attribute 'search'"),
        ("from collections import abc\n" + _wrap("abc.Mapping.register(str)\nreturn 1"), "attribute 'register'"),
        (_wrap("return '{0.__class__}'.format(x)"), "'.format' is only allowed"),
        (_wrap("f = '{0.real}'\nreturn f.format(1)"), "'.format' is only allowed"),
        (_wrap("return '{0:{1.real}}'.format(1, 2)"), "'.format' is only allowed"),
        ("import string\n" + _wrap("return string.Formatter().format('{0}', 1)"), "attribute 'Formatter'"),
        ("N = 0\n" + _wrap("global N\nreturn 1"), "'global' statements are not allowed"),
        (_wrap("n = 0\ndef f():\n    nonlocal n\nreturn 1"), "'nonlocal' statements are not allowed"),
        ("async def helper():\n    return 1\n" + _wrap("return 1"), "'async def' is not allowed"),
        ("yield 1\n" + _wrap("return 1"), "'yield' outside function"),
        (_wrap("try:\n    return 1\nexcept:\n    return 0"), "bare 'except:' is not allowed"),
        (_wrap("try:\n    return 1\nexcept BaseException:\n    return 0"), "'except BaseException' is not allowed"),
        (_wrap("try:\n    return 1\nfinally:\n    return 0"), "'finally' is not allowed"),
        (_wrap("try:\n    return 1\nexcept* ValueError:\n    return 0"), "'except*' is not allowed"),
        ("class Rule:\n    pass\n" + _wrap("return 1"), "class definitions are not allowed"),
        (_wrap("with x:\n    return 1"), "'with' statements are not allowed"),
        (_wrap("match x:\n    case str(__class__=c):\n        return 0"), "'__class__'"),
        (_wrap("return 1") + "#" * MAX_SOURCE_BYTES, "the limit is 100000"),
        (_wrap("return " + "(" * 300 + "1" + ")" * 300), "syntax error"),
        (_wrap("return " + "-" * 60_000 + "1"), "nested too deeply"),
    ],
)
def test_forbidden_constructs_are_rejected_with_a_reason(source, expected):
    violations = check_program(source, name="p_bad")
    assert violations, f"expected a violation containing {expected!r}"
    assert any(expected in v for v in violations), violations


def test_every_violation_is_reported_in_line_order():
    source = "import os\nimport socket\ndef label(x, y):\n    return eval(x.__class__)\n"
    violations = check_program(source)
    assert violations[0].startswith("line 1:") and "'os'" in violations[0]
    assert any("'socket'" in v for v in violations)
    assert any("exactly one positional parameter" in v for v in violations)
    assert any("'eval'" in v for v in violations) and any("'__class__'" in v for v in violations)
    lines = [int(v.split(":")[0][5:]) for v in violations]
    assert lines == sorted(lines)


def test_non_string_source_is_a_violation_not_a_crash():
    assert check_program(b"def label(x): return 1") == ["expected the program source as str, got bytes"]


def test_every_violation_is_listed_and_a_policy_error_names_them_all():
    program = LabelingProgram("p_os", "import os\ndef label(x):\n    return open('f')\n")
    violations = check_program(program.source, name=program.name)
    assert len(violations) == 2
    error = ProgramPolicyError(program.name, violations)
    assert error.name == "p_os" and error.violations == violations
    assert "program 'p_os' breaks the sandbox policy" in str(error)


def test_allow_list_is_the_documented_one():
    assert ALLOWED_IMPORTS == {
        "re", "math", "string", "collections", "itertools", "functools", "statistics", "unicodedata",
    }  # fmt: skip


def test_module_examples_hold():
    assert doctest.testmod(policy).failed == 0
