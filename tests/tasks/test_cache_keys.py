"""Every cached task's key follows the core code it runs, derived from its source, not listed by hand."""

from __future__ import annotations

import importlib
import pkgutil
from types import SimpleNamespace

import pytest
from prefect import Task

import alchemist_core.digest as digest
import tasks
from tasks.caching import CoreCode, task_core_modules

# For each cached task, a core module holding a function it runs (named in the comment). Editing
# that module must change the task's key. A new cached task must be added here.
USES = {
    "selection-rows": "alchemist_core.selection_rows",  # write_selection_rows
    "generate-programs": "alchemist_core.generators.offline_mining",  # the offline generator's miner
    "generate-fold-programs": "alchemist_core.generators.offline_mining",
    "apply-programs": "alchemist_core.programs.sandbox_worker",  # runs every program, started as a script
    "curate-programs": "alchemist_core.programs.curate",  # the curation rules
    "select-final-labels": "alchemist_core.students.registry",  # the students scored out of fold
    "select-label-model": "alchemist_core.images.pipeline",  # concept_fold_votes
    "fit-label-model": "alchemist_core.labelmodel.aggregate",  # the label models
    "predict-labels": "alchemist_core.labelmodel.pseudolabels",  # pseudolabel_table
    "distill-student": "alchemist_core.students.training",  # distill_and_predict
    "final-labels": "alchemist_core.labelmodel.pseudolabels",  # final_label_table
    "generate-concept-programs": "alchemist_core.generators.concept_programs",
    "distill-image-student": "alchemist_core.labelmodel.pseudolabels",  # table_posterior, through image_pipeline
    "predict-student": "alchemist_core.students.features",  # the student's features on new rows
}


def _cached_tasks() -> dict[str, Task]:
    found = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.persist_result:
                found[value.name] = value
    return found


def _key(task: Task) -> str:
    return CoreCode().compute_key(task_ctx=SimpleNamespace(task=task), inputs={}, flow_parameters={})


def _edited(monkeypatch, module: str) -> None:
    real = digest.source_bytes
    monkeypatch.setattr(digest, "source_bytes", lambda name: real(name) + (b"\n# edited\n" if name == module else b""))


def test_every_cached_task_keys_on_its_core_code():
    cached = _cached_tasks()
    assert set(cached) == set(USES), "a cached task was added or removed: name a core module it runs in USES"
    for name, task in cached.items():
        policies = getattr(task.cache_policy, "policies", [task.cache_policy])
        assert any(isinstance(p, CoreCode) for p in policies), f"{name} does not key on its core code"


@pytest.mark.parametrize("name", sorted(USES))
def test_editing_a_core_function_a_task_runs_changes_its_key(name, monkeypatch):
    task = _cached_tasks()[name]
    before = _key(task)
    assert _key(task) == before
    _edited(monkeypatch, USES[name])
    assert _key(task) != before, f"editing {USES[name]} leaves the key of {name} unchanged"


def test_the_image_student_follows_the_pseudolabels_it_reads(monkeypatch):
    from tasks.images import distill_image_student

    # image_pipeline.distill_image_student reads the pseudolabels through table_posterior.
    assert "alchemist_core.labelmodel.pseudolabels" in task_core_modules(distill_image_student)
    before = _key(distill_image_student)
    _edited(monkeypatch, "alchemist_core.labelmodel.pseudolabels")
    assert _key(distill_image_student) != before


def test_code_a_task_never_runs_leaves_its_key_alone(monkeypatch):
    from tasks.aggregate import fit_label_model, predict_labels
    from tasks.run import curate_programs

    keys = {task: _key(task) for task in (fit_label_model, predict_labels, curate_programs)}
    for module in ("alchemist_core.cache_admin", "alchemist_core.images.report", "alchemist_core.images.clip"):
        assert all(module not in task_core_modules(task) for task in keys)
        _edited(monkeypatch, module)
    assert {task: _key(task) for task in keys} == keys


def test_lazy_imports_inside_functions_count():
    closure = digest.module_closure(["alchemist_core.selection"])
    assert "alchemist_core.digest" in closure  # imported inside a function of selection.py
    assert closure == tuple(sorted(closure)) and "alchemist_core" in closure
