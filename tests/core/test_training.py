"""The distillation stage: student candidates, how each is trained, the stage itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.data.ingest import ingest_dataset
from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError
from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
from alchemist_core.students.training import (
    DEFAULT_STUDENT_CANDIDATES,
    StudentChoice,
    distill_and_predict,
    fit_student,
    gold_row_weight,
    predict_file,
    student_candidates,
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
    from alchemist_core.students.features import TfidfFeaturizer

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


def test_gold_modes_learn_from_the_labeled_rows():
    from alchemist_core.students.features import TfidfFeaturizer

    train, y_train = _texts(300, seed=1)
    valid, y_valid = _texts(60, seed=2)
    featurizer = TfidfFeaturizer().fit(train)
    X, X_valid = featurizer.transform(train), featurizer.transform(valid)
    covered = np.ones(300, dtype=bool)
    # Pseudolabels that are backwards: a student of them alone learns the opposite of the truth.
    backwards = _posterior(1 - y_train, covered)
    gold = {"X_gold": X_valid[:40], "y_gold": y_valid[:40]}

    def accuracy(student):
        return float((student.predict(X_valid[40:]) == y_valid[40:]).mean())

    pseudo_only = fit_student(StudentChoice("logreg", "tfidf", "covered"), X, backwards, covered, seed=0)
    supervised = fit_student(StudentChoice("logreg", "tfidf", "gold"), X, backwards, covered, seed=0, **gold)
    assert accuracy(pseudo_only) < 0.2 and accuracy(supervised) > 0.9
    # The supervised floor never reads a pseudolabel.
    again = fit_student(StudentChoice("logreg", "tfidf", "gold"), X, _posterior(y_train, covered), covered, seed=0, **gold)
    assert np.array_equal(again.predict_proba(X_valid), supervised.predict_proba(X_valid))
    with pytest.raises(InputError, match="trains on labeled rows"):
        fit_student(StudentChoice("logreg", "tfidf", "covered+gold"), X, backwards, covered, seed=0)
    # Right pseudolabels and gold rows together: a mixture that learns from both.
    mixed = fit_student(StudentChoice("logreg", "tfidf", "covered+gold"), X, _posterior(y_train, covered), covered, seed=0, **gold)
    assert accuracy(mixed) > 0.9


def test_gold_rows_weigh_as_much_as_the_pseudolabeled_rows():
    posterior = np.array([[1.0, 0.0]] * 8 + [[0.5, 0.5]] * 4)  # 8 confident rows, 4 uniform ones
    assert gold_row_weight(posterior, 4, confidence_weighting=True) == 2.0
    assert gold_row_weight(posterior, 4, confidence_weighting=False) == 3.0
    assert gold_row_weight(posterior, 100, confidence_weighting=True) == 1.0  # never below a pseudolabel


def test_a_student_chooses_its_settings_on_held_out_pseudolabels_not_on_gold():
    from alchemist_core.students.features import TfidfFeaturizer

    train, y_train = _texts(400, seed=3)
    X = TfidfFeaturizer().fit_transform(train)
    covered = np.ones(400, dtype=bool)
    student = fit_student(StudentChoice("logreg", "tfidf", "covered"), X, _posterior(y_train, covered), covered, seed=0)
    assert student.C_ in (0.1, 1.0, 10.0, 100.0)
    mlp = fit_student(StudentChoice("mlp", "tfidf", "covered"), X, _posterior(y_train, covered), covered, seed=0)
    assert "valid_agreement" in mlp.history_[0]  # early stopping on the held-out pseudolabels


def test_the_supervised_floor_is_always_a_candidate():
    auto = student_candidates({"model": "auto", "candidates": None, "features": "minilm", "covered_only": True})
    assert [c.name for c in auto] == [c.name for c in DEFAULT_STUDENT_CANDIDATES]
    assert {"logreg/tfidf/gold", "logreg/minilm/gold"} <= {c.name for c in auto}
    narrowed = student_candidates({"model": "auto", "candidates": ["mlp/minilm/covered"], "features": "minilm", "covered_only": True})
    assert [c.name for c in narrowed] == ["mlp/minilm/covered", "logreg/minilm/gold", "logreg/tfidf/gold"]
    fixed = student_candidates({"model": "mlp", "features": "tfidf", "covered_only": False})
    assert [c.name for c in fixed] == ["mlp/tfidf/all", "logreg/tfidf/gold"]


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


def test_distill_and_predict_fits_the_chosen_student_saves_and_predicts(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    result = distill_and_predict(
        pseudolabels=labels, data=data, shards=shards, fields=["text"], settings=SETTINGS,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
        choice=StudentChoice("logreg", "tfidf", "covered+gold"),
    )
    assert result["chosen"] == {"model": "logreg", "features": "tfidf", "rows": "covered+gold"}
    assert result["n_train_rows"] == 150 + 60  # the covered training rows and every labeled valid row
    meta = run.read_json("student", "student.json")
    assert meta["model"] == "logreg" and meta["rows"] == "covered+gold" and meta["n_gold_rows"] == 60
    test = run.read_table("student", "predictions", "test.parquet")
    gold = data.read_table("gold/test.parquet").column("label").to_numpy()
    assert (test.column("label").to_numpy() == gold).mean() > 0.9
    # The saved student labels new files with its own featurizer.
    source = tmp_path / "new.csv"
    source.write_text("text\nfree money now\nlovely song wow\n", encoding="utf-8")
    run.write_json({"classes": [{"name": "ham"}, {"name": "spam"}]}, "spec.json")
    out = predict_file(run, str(source), str(tmp_path / "out.csv"))
    assert pa.csv.read_csv(out).column("label_name").to_pylist() == ["spam", "ham"]


def test_the_supervised_floor_trains_on_the_valid_split_alone(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    result = distill_and_predict(
        pseudolabels=labels, data=data, shards=shards, fields=["text"], settings=SETTINGS,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
        choice=StudentChoice("logreg", "tfidf", "gold"),
    )
    assert result["n_train_rows"] == 60
    train = run.read_table("student", "predictions", "train.parquet")
    assert train.num_rows == 200  # every training row is still labeled
    with pytest.raises(InputError, match="lacks"):
        distill_and_predict(
            pseudolabels=labels, data=data, shards={"train": shards["train"]}, fields=["text"], settings=SETTINGS,
            splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run,
            seed=0, choice=StudentChoice("logreg", "tfidf", "gold"),
        )


def test_distill_and_predict_with_a_fixed_student_is_unchanged(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf", "covered_only": False}
    result = distill_and_predict(
        pseudolabels=labels, data=data, shards=shards, fields=["text"], settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["chosen"] == {"model": "logreg", "features": "tfidf", "rows": "all"}
    assert result["n_train_rows"] == 200


def test_a_capped_student_is_fitted_on_a_sample_and_predicts_every_row(labeled_run, monkeypatch):
    import alchemist_core.students.training as training

    data, run, labels, shards, tmp_path = labeled_run
    monkeypatch.setattr(training, "PREDICT_CHUNK_ROWS", 37)  # several chunks for the rows left out of the fit
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf", "covered_only": False, "max_train_rows": 120}
    result = distill_and_predict(
        pseudolabels=labels, data=data, shards=shards, fields=["text"], settings=settings,
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


def test_without_a_choice_auto_falls_back_to_a_logistic_student(labeled_run):
    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "features": "tfidf"}
    result = distill_and_predict(
        pseudolabels=labels, data=data, shards={"train": shards["train"], "test": shards["test"]}, fields=["text"],
        settings=settings, splits={"train": "train", "valid": "valid", "test": "test"},
        cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    assert result["chosen"] == {"model": "logreg", "features": "tfidf", "rows": "covered"}


def test_student_names_parse_back_and_bad_ones_say_what_is_expected():
    for choice in DEFAULT_STUDENT_CANDIDATES:
        assert StudentChoice.parse(choice.name) == choice
    with pytest.raises(InputError, match="model/features/rows"):
        StudentChoice.parse("logreg-tfidf")
    with pytest.raises(InputError, match="rows must be one of"):
        StudentChoice.parse("logreg/tfidf/some")


def test_a_stored_student_reads_what_it_was_trained_on(labeled_run):
    from alchemist_core.students.training import stored_student_inputs

    data, run, labels, shards, tmp_path = labeled_run
    settings = {**SETTINGS, "model": "logreg", "features": "tfidf"}
    distill_and_predict(
        pseudolabels=labels, data=data, shards=shards, fields=["text"], settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=open_storage(str(tmp_path / "cache")), run=run, seed=0,
    )
    texts = ["free money now", "lovely song wow"]
    X = stored_student_inputs(run.child("student"), texts)
    assert X.shape[0] == 2 and X.shape[1] > 100  # the run's own TF-IDF vocabulary
    # A fine-tuned encoder reads the texts themselves.
    meta = run.read_json("student", "student.json")
    run.write_json({**meta, "features": "text"}, "student", "student.json")
    assert stored_student_inputs(run.child("student"), texts) == texts
