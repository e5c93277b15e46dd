"""The distillation stage: student candidates, their selection on the valid split, the stage itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.errors import InputError
from alchemist_core.ingest import ingest_dataset
from alchemist_core.pseudolabels import pseudolabel_table
from alchemist_core.storage import open_storage
from alchemist_core.training import (
    DEFAULT_STUDENT_CANDIDATES,
    StudentChoice,
    distill_and_predict,
    fit_student,
    predict_file,
    select_student,
)

SPAM = ["win a free prize", "click for free money", "subscribe to my channel", "check out my channel", "free gift card"]
HAM = ["what a beautiful song", "i love this video", "her voice is amazing", "this melody is lovely", "best music ever"]


def _texts(n_rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n_rows)
    texts = [f"{rng.choice(SPAM if label else HAM)} {rng.choice(['now', 'wow', 'ok', 'lol'])}" for label in y]
    return texts, y


def _posterior(y: np.ndarray, covered: np.ndarray) -> np.ndarray:
    posterior = np.where(y[:, None] == np.arange(2), 0.9, 0.1)
    posterior[~covered] = 0.5
    return posterior


def test_choice_names_and_checks():
    assert StudentChoice("logreg", "tfidf", "all").name == "logreg/tfidf/all"
    assert StudentChoice("finetune", "text").rows == "covered"
    with pytest.raises(InputError, match="goes with the finetune student"):
        StudentChoice("logreg", "text")
    with pytest.raises(InputError, match="goes with the finetune student"):
        StudentChoice("finetune", "minilm")
    with pytest.raises(InputError, match="rows must be one of"):
        StudentChoice("mlp", "minilm", "some")
    with pytest.raises(InputError, match="model must be one of"):
        StudentChoice("xgboost", "tfidf")
    assert all(c.model != "finetune" for c in DEFAULT_STUDENT_CANDIDATES)


def test_rows_modes_train_on_what_they_say():
    from alchemist_core.features import TfidfFeaturizer

    texts, y = _texts(200, seed=0)
    X = TfidfFeaturizer().fit_transform(texts)
    # Only spam rows are covered: a covered-only student never sees a ham label.
    covered = y == 1
    covered[:5] = True
    posterior = _posterior(y, covered)
    covered_only = fit_student(StudentChoice("logreg", "tfidf", "covered"), X, posterior, covered, seed=0)
    assert covered_only.history_  # fitted
    # Self-training labels the uncovered rows with the first student's own predictions.
    selftrained = fit_student(StudentChoice("logreg", "tfidf", "selftrain"), X, posterior, covered, seed=0)
    assert selftrained.predict_proba(X).shape == (200, 2)
    with pytest.raises(InputError, match="nothing to distil"):
        fit_student(StudentChoice("logreg", "tfidf", "covered"), X, posterior, np.zeros(200, dtype=bool))


def test_select_student_scores_only_the_valid_split():
    train, y_train = _texts(300, seed=1)
    valid, y_valid = _texts(60, seed=2)
    covered = np.ones(300, dtype=bool)
    posterior = _posterior(y_train, covered)
    # The test texts are garbage and unlabeled: the choice cannot depend on them.
    texts = {"train": train, "valid": valid, "test": ["zzz"] * 7}
    candidates = [StudentChoice("logreg", "tfidf", "covered"), StudentChoice("mlp", "tfidf", "covered")]
    selection = select_student(texts, posterior, covered, y_valid, candidates=candidates, seed=0)
    assert set(selection.scores) == {"logreg/tfidf/covered", "mlp/tfidf/covered"}
    assert selection.scores[selection.choice.name] == max(selection.scores.values()) > 0.9
    assert selection.features["test"].shape[0] == 7
    assert selection.featurizer is not None


def test_select_student_follows_the_valid_labels():
    # The uncovered rows carry confidently wrong soft labels: training on them muddles the
    # student. True valid labels prefer the covered-only student; backwards valid labels
    # prefer the muddled one. Either way the valid split decides.
    train, y_train = _texts(300, seed=1)
    valid, y_valid = _texts(60, seed=2)
    covered = np.arange(300) < 150
    posterior = _posterior(y_train, np.ones(300, dtype=bool))
    posterior[~covered] = posterior[~covered][:, ::-1]
    candidates = [StudentChoice("logreg", "tfidf", "covered"), StudentChoice("logreg", "tfidf", "all")]
    texts = {"train": train, "valid": valid}
    right = select_student(texts, posterior, covered, y_valid, candidates=candidates, seed=0)
    assert right.choice.rows == "covered" and right.scores["logreg/tfidf/covered"] > 0.9
    backwards = select_student(texts, posterior, covered, 1 - y_valid, candidates=candidates, seed=0)
    assert backwards.choice.rows == "all"


def test_select_student_needs_valid_gold():
    train, y_train = _texts(50, seed=1)
    covered = np.ones(50, dtype=bool)
    with pytest.raises(InputError, match="needs gold labels"):
        select_student({"train": train, "valid": train[:5]}, _posterior(y_train, covered), covered, -np.ones(5, dtype=int))
    with pytest.raises(InputError, match="'valid' split"):
        select_student({"train": train}, _posterior(y_train, covered), covered, np.zeros(5, dtype=int))


@pytest.fixture()
def labeled_run(tmp_path):
    rows = []
    for split, n_rows, seed in (("train", 200, 1), ("valid", 60, 2), ("test", 60, 3)):
        texts, y = _texts(n_rows, seed)
        rows += [(f"{split}-{i}", split, text, ["ham", "spam"][label]) for i, (text, label) in enumerate(zip(texts, y))]
    csv = tmp_path / "comments.csv"
    csv.write_text("id,split,text,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]}\n" for r in rows), encoding="utf-8")
    data = open_storage(str(tmp_path / "data"))
    manifest = ingest_dataset(str(csv), data, fields=["text"], id_field="id", split_field="split", class_names=["ham", "spam"])
    run = open_storage(str(tmp_path / "run"))
    labels = {}
    for split in ("train", "valid", "test"):
        table = data.read_table(manifest.splits[split].shards[0])
        gold = data.read_table(f"gold/{split}.parquet").column("label").to_numpy()
        L = np.where(np.arange(len(gold)) % 4 == 0, -1, gold)[:, None].astype(np.int8)  # 3 in 4 rows covered
        posterior = _posterior(gold, L[:, 0] != -1)
        labels[split] = [run.write_table(pseudolabel_table(table.column("row_id"), posterior, L), "labels", split, "shard-00000.parquet")]
    shards = {s: list(info.shards) for s, info in manifest.splits.items()}
    return data, run, labels, shards, tmp_path


SETTINGS = {
    "model": "auto", "features": "minilm", "encoder": "minilm", "hidden": [16], "epochs": 5, "lr": 1e-2,
    "batch_size": 64, "covered_only": True, "confidence_weighting": True, "device": "cpu",
    "candidates": ["logreg/tfidf/covered", "logreg/tfidf/selftrain"],
}


def test_distill_and_predict_chooses_saves_and_predicts(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    result = distill_and_predict(
        labels=labels, data=data, shards=shards, fields=["text"], settings=SETTINGS,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["chosen"]["model"] == "logreg" and result["chosen"]["features"] == "tfidf"
    assert set(result["valid_scores"]) == {"logreg/tfidf/covered", "logreg/tfidf/selftrain"}
    meta = run.read_json("student", "student.json")
    assert meta["model"] == "logreg" and meta["rows"] == result["chosen"]["rows"]
    test = run.read_table("student", "predictions", "test.parquet")
    gold = data.read_table("gold/test.parquet").column("label").to_numpy()
    assert (test.column("label").to_numpy() == gold).mean() > 0.9
    # The saved student labels new files with its own featurizer.
    source = tmp_path / "new.csv"
    source.write_text("text\nfree money now\nlovely song wow\n", encoding="utf-8")
    run.write_json({"classes": [{"name": "ham"}, {"name": "spam"}]}, "spec.json")
    out = predict_file(run, str(source), str(tmp_path / "out.csv"))
    assert pa.csv.read_csv(out).column("label_name").to_pylist() == ["spam", "ham"]


def test_distill_and_predict_with_a_fixed_student_is_unchanged(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf", "covered_only": False}
    result = distill_and_predict(
        labels=labels, data=data, shards=shards, fields=["text"], settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["chosen"] == {"model": "logreg", "features": "tfidf", "rows": "all"}
    assert result["n_train_rows"] == 200 and result["valid_scores"] == {}


def test_a_capped_student_is_fitted_on_a_sample_and_predicts_every_row(labeled_run, monkeypatch):
    import alchemist_core.training as training

    data, run, labels, shards, tmp_path = labeled_run
    monkeypatch.setattr(training, "PREDICT_CHUNK_ROWS", 37)  # several chunks for the rows left out of the fit
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf", "covered_only": False, "max_train_rows": 120}
    result = distill_and_predict(
        labels=labels, data=data, shards=shards, fields=["text"], settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["n_train_rows"] == 120
    assert run.read_json("student", "student.json")["fit_rows"] == 120
    train = run.read_table("student", "predictions", "train.parquet")
    expected_ids = data.read_table(shards["train"][0]).column("row_id").to_pylist()
    assert train.column("row_id").to_pylist() == expected_ids  # all 200 rows, in order, none dropped
    gold = data.read_table("gold/train.parquet").column("label").to_numpy()
    assert (train.column("label").to_numpy() == gold).mean() > 0.9  # the 80 unsampled rows are predicted too
    proba = np.column_stack([train.column(f"p_{k}").to_numpy() for k in range(2)])
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_auto_without_valid_labels_falls_back_to_a_logistic_student(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "features": "tfidf"}
    result = distill_and_predict(
        labels=labels, data=data, shards={"train": shards["train"], "test": shards["test"]}, fields=["text"],
        settings=settings, splits={"train": "train", "valid": "valid", "test": "test"},
        cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["chosen"] == {"model": "logreg", "features": "tfidf", "rows": "covered"}
    assert result["valid_scores"] == {}


def test_student_names_parse_back_and_bad_ones_say_what_is_expected():
    for choice in DEFAULT_STUDENT_CANDIDATES:
        assert StudentChoice.parse(choice.name) == choice
    with pytest.raises(InputError, match="model/features/rows"):
        StudentChoice.parse("logreg-tfidf")
    with pytest.raises(InputError, match="rows must be one of"):
        StudentChoice.parse("logreg/tfidf/some")


def test_a_stored_student_reads_what_it_was_trained_on(labeled_run):
    from alchemist_core.training import stored_student_inputs

    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf"}
    distill_and_predict(
        labels=labels, data=data, shards=shards, fields=["text"], settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    texts = ["free money now", "lovely song wow"]
    X = stored_student_inputs(run.child("student"), texts)
    assert X.shape[0] == 2 and X.shape[1] > 100  # the run's own TF-IDF vocabulary
    # A fine-tuned encoder reads the texts themselves.
    meta = run.read_json("student", "student.json")
    run.write_json({**meta, "features": "text"}, "student", "student.json")
    assert stored_student_inputs(run.child("student"), texts) == texts
