import json

import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.images.demo import make_shapes_dataset
from alchemist_core.images.pipeline import load_image_config
from alchemist_core.llm import Ledger
from tests.fake_llm import Reply, fake_llm  # noqa: F401

pytestmark = pytest.mark.slow

CONCEPTS = {
    "subject": "shape",
    "concepts": [
        {"name": "corners", "descriptions": {"circle": "no corners", "square": "four right angles"}},
        {"name": "outline", "descriptions": {"circle": "round", "square": "straight-edged"}},
    ],
}
# The tiny random CLIP's scores mean nothing, so these programs only need votes that vary
# from image to image (curation drops constant programs): the plumbing is under test.
PROGRAMS = [
    'def label(x):\n    """Corners, by a digit."""\n    return int(x["corners:circle"] * 1000) % 2\n',
    'def label(x):\n    """Outline, by another digit."""\n    return int(x["outline:square"] * 10000) % 2\n',
    'def label(x):\n    """Some outlines are round."""\n    return 0 if int(x["outline:circle"] * 100) % 3 == 0 else -1\n',
]


def small_config(tmp_path, **overrides):
    settings = {
        "storage": str(tmp_path / "runs"),
        "dask.address": "synchronous",
        "data.shard_rows": 16,
        "generator.n_programs": 3,
        "generator.sample_rows": 20,
        "student.epochs": 3,
        "student.hidden": [16],
        "student.device": "cpu",
        "clip.device": "cpu",
        "label_model.n_epochs": 50,
        "sandbox.memory_mb": 1024,
    }
    settings.update(overrides)
    return load_image_config(overrides=settings)


def test_images_are_labeled_through_llm_concepts_and_programs(prefect_harness, fake_llm, tmp_path, monkeypatch):
    from flows.label_images import label_images

    monkeypatch.delenv("ALCHEMIST_UNSET_KEY", raising=False)
    metadata = make_shapes_dataset(tmp_path / "shapes", n_train=32, n_valid=12, n_test=16, seed=1)
    (tmp_path / "shapes" / "images/train/circle/train-0000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "shapes" / "images/test/square/test-0001.png").unlink()
    fake_llm.enqueue(Reply("```json\n" + json.dumps(CONCEPTS) + "\n```"), *(Reply(f"```python\n{p}```") for p in PROGRAMS))
    config = small_config(
        tmp_path,
        **{
            "data.source": str(metadata), "data.image_field": "path", "data.split_field": "split",
            "data.group_field": "background", "generator.kind": "openai", "llm.base_url": fake_llm.url,
            "llm.api_key_env": "ALCHEMIST_UNSET_KEY", "llm.max_concurrency": 1, "llm.max_retries": 0, "llm.timeout": 5.0,
            # Votes of digit-reading programs tie often; tied posteriors would weigh nothing.
            "student.confidence_weighting": False,
        },
    )  # fmt: skip
    summary = label_images(config)

    metrics = summary["metrics"]
    assert metrics["images.skipped"] == 2
    assert metrics["programs.active"] + metrics["programs.dropped"] == 3
    for model in ("label_model", "student", "clip_zero_shot"):
        assert 0.0 <= metrics[f"{model}.test.worst_group_accuracy"] <= metrics[f"{model}.test.accuracy"] <= 1.0
    run = Storage(summary["run_root"])
    assert run.read_json("concepts.json")["source"] == "llm"
    assert [e["purpose"] for e in Ledger(run).entries()] == ["concepts", "code", "code", "code"]
    report = run.read_text("report.md")
    assert "<svg" in run.read_text("report.html") and "## Groups" in run.read_text("report.html").replace("<h2>Groups</h2>", "## Groups")
    for text in ("## Groups", "CLIP zero-shot", "circle / blue", "| corners | no corners | four right angles |",
                 "- train: 1 corrupt", "- test: 1 missing", "llm_concept_p02"):  # fmt: skip
        assert text in report, text
    votes = run.read_table("votes", "train", "shard-00000.parquet")
    assert votes.column_names == ["row_id", "llm_concept_p00", "llm_concept_p01", "llm_concept_p02"]
    assert votes.num_rows == 16  # 31 usable training images in shards of 16

    # A rerun of the same config asks the LLM nothing: concepts come from the response cache,
    # programs from Prefect's cache (the program set is not written again).
    requests = fake_llm.request_count
    written = (tmp_path / "runs" / "runs" / summary["run_id"] / "programs" / "manifest.json").stat().st_mtime_ns
    again = label_images(config)
    assert fake_llm.request_count == requests
    assert (tmp_path / "runs" / "runs" / summary["run_id"] / "programs" / "manifest.json").stat().st_mtime_ns == written
    assert again["metrics"] == metrics


def test_the_offline_demo_runs_without_any_llm(prefect_harness, tmp_path):
    from flows.label_images import label_images

    summary = label_images(small_config(tmp_path))
    run = Storage(summary["run_root"])
    assert run.read_json("concepts.json")["source"] == "demo"
    programs = run.read_json("programs", "manifest.json")["programs"]
    assert programs and all(p["origin"]["generator"] == "concept_offline" for p in programs)
    # Its margins were fitted to the labeled valid images; for the label model's choice they were
    # fitted again once per fold without that fold, so no valid score is in-sample.
    assert summary["metrics"]["generator.valid_rows_seen"] > 0
    selection = run.read_json("selection.json")
    assert selection["fold_programs"] is True and selection["n_folds"] >= 2
    report = run.read_text("report.md")
    assert "In-sample valid scores" not in report
    assert "| label model (out of fold) | valid |" in report and "| label model | valid |" not in report
    assert "| student | valid |" not in report and "| CLIP zero-shot | valid |" in report
    assert summary["metrics"]["label_model.valid_out_of_fold.accuracy"] == round(
        next(c for c in selection["candidates"] if c["name"] == selection["winner"])["accuracy"], 4
    )
    assert not run.exists("ledger.jsonl")
    assert "clip_zero_shot.test.worst_group_accuracy" in summary["metrics"]
    assert run.exists("student", "weights.pt")
