"""What crosses a task boundary: typed references and settings, by keyword, a handful at a time."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing

from prefect import Task

import tasks

MAX_PARAMETERS = 6


def _tasks() -> dict[str, Task]:
    found = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        found.update({value.name: value for value in vars(module).values() if isinstance(value, Task)})
    return found


def _untyped(annotation) -> bool:
    """A ``dict``/``Mapping`` of ``Any`` anywhere in an annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (dict, typing.Mapping) or (origin is not None and getattr(origin, "__name__", "") == "Mapping"):
        if not args or args[-1] is typing.Any:
            return True
    if annotation in (dict, typing.Any):
        return annotation is dict
    return any(_untyped(arg) for arg in args)


def test_every_task_takes_at_most_six_parameters():
    wide = {name: len(inspect.signature(task.fn).parameters) for name, task in _tasks().items()}
    assert {name: n for name, n in wide.items() if n > MAX_PARAMETERS} == {}


def test_no_untyped_dict_crosses_a_task_boundary():
    found = {}
    for name, task in _tasks().items():
        hints = typing.get_type_hints(task.fn)
        bad = [param for param, annotation in hints.items() if _untyped(annotation)]
        if bad:
            found[name] = bad
    assert found == {}, "tasks taking or returning dict[str, Any]; pass a reference from alchemist_core.refs instead"


def test_the_check_sees_an_untyped_dict():
    assert _untyped(dict[str, typing.Any]) and _untyped(list[dict[str, typing.Any]]) and _untyped(dict)
    assert not _untyped(dict[str, str]) and not _untyped(list[str])


def test_every_task_reports_its_stage():
    from tasks.progress import on_stage_completion, on_stage_failure

    missing = [
        name for name, task in _tasks().items()
        if on_stage_completion not in task.on_completion_hooks or on_stage_failure not in task.on_failure_hooks
    ]  # fmt: skip
    assert missing == [], "declare these tasks with @task(**STAGE_HOOKS, ...) so the command line shows their stage"
