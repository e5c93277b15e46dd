import dataclasses

import numpy as np
import pytest
import scipy.sparse
import torch

from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError, StorageError
from alchemist_core.students.base import StudentHyperparameters, row_confidence
from alchemist_core.students.logistic import LogisticStudent
from alchemist_core.students.mlp import MLPStudent
from alchemist_core.students.registry import STUDENTS, load_student, make_student

FAST = StudentHyperparameters(hidden=(32,), epochs=10, batch_size=100, device="cpu")


def blobs(n_rows: int, *, n_classes: int = 3, n_features: int = 16, seed: int = 0):
    """Gaussian clusters, one per class, well apart."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n_rows)
    X = centers[y] + rng.normal(size=(n_rows, n_features))
    return X.astype(np.float32), y


def soft_labels(y: np.ndarray, n_classes: int, *, seed: int = 0, flip: float = 0.15) -> np.ndarray:
    """Posterior rows that favour the true class, with ``flip`` of them favouring a wrong one."""
    rng = np.random.default_rng(seed)
    favoured = np.where(rng.random(len(y)) < flip, (y + 1) % n_classes, y)
    posterior = rng.dirichlet(np.ones(n_classes), size=len(y)) * 0.4
    posterior[np.arange(len(y)), favoured] += 0.6
    return posterior


@pytest.fixture(scope="module")
def problem():
    X_all, y_all = blobs(600)
    X, y, X_test, y_test = X_all[:300], y_all[:300], X_all[300:], y_all[300:]
    return X, soft_labels(y, 3), X_test, y_test


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_student_learns_separable_problem_from_soft_labels(problem, name):
    X, posterior, X_test, y_test = problem
    student = make_student(name, FAST, seed=0).fit(X, posterior)
    proba = student.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (student.predict(X_test) == y_test).mean() > 0.9
    assert (student.n_features_in_, student.n_classes_, student.device_) == (16, 3, "cpu")
    assert student.history_ and all("loss" in record for record in student.history_)


def test_mlp_is_deterministic_for_a_seed(problem):
    X, posterior, X_test, _ = problem
    config = dataclasses.replace(FAST, dropout=0.3)
    first = MLPStudent(config, seed=7).fit(X, posterior).predict_proba(X_test)
    second = MLPStudent(config, seed=7).fit(X, posterior).predict_proba(X_test)
    other = MLPStudent(config, seed=8).fit(X, posterior).predict_proba(X_test)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_mlp_leaves_global_rng_alone(problem):
    X, posterior, _, _ = problem
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MLPStudent(FAST, seed=0).fit(X, posterior)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_mlp_loss_decreases(problem):
    X, posterior, _, _ = problem
    history = MLPStudent(FAST, seed=0).fit(X, posterior).history_
    assert [r["epoch"] for r in history] == list(range(1, FAST.epochs + 1))
    assert history[-1]["loss"] < history[0]["loss"]


def test_mlp_early_stops_on_a_valid_split(problem):
    X, posterior, X_test, y_test = problem
    config = dataclasses.replace(FAST, epochs=200, patience=3)
    student = MLPStudent(config, seed=0).fit(X, posterior, X_valid=X_test[:100], y_valid=y_test[:100])
    history = student.history_
    assert len(history) < 200
    assert len(history) == student.best_epoch_ + config.patience
    accuracies = [r["valid_accuracy"] for r in history]
    assert max(accuracies) == accuracies[student.best_epoch_ - 1]
    # the kept weights are the best epoch's, not the last one's
    assert (student.predict(X_test[:100]) == y_test[:100]).mean() == pytest.approx(max(accuracies))


def test_mlp_sparse_input_matches_dense(problem):
    X, posterior, X_test, _ = problem
    dense = MLPStudent(FAST, seed=0).fit(X, posterior)
    sparse = MLPStudent(FAST, seed=0).fit(scipy.sparse.csr_matrix(X), posterior)
    np.testing.assert_allclose(
        sparse.predict_proba(scipy.sparse.csr_matrix(X_test)), dense.predict_proba(X_test), atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_save_load_roundtrip(problem, tmp_path, name):
    X, posterior, X_test, _ = problem
    storage = open_storage(str(tmp_path))
    student = make_student(name, FAST, seed=3).fit(X, posterior)
    uri = student.save(storage, "run", "student")
    assert uri == str(tmp_path / "run" / "student")
    loaded = STUDENTS[name].load(storage, "run", "student")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), student.predict_proba(X_test))
    assert (loaded.config, loaded.seed, loaded.history_) == (student.config, 3, student.history_)
    assert type(load_student(storage, "run", "student")) is STUDENTS[name]


def test_loading_the_wrong_kind_fails(problem, tmp_path):
    X, posterior, _, _ = problem
    storage = open_storage(str(tmp_path))
    LogisticStudent(FAST).fit(X, posterior).save(storage, "student")
    with pytest.raises(StorageError, match="'logreg' student, expected 'mlp'"):
        MLPStudent.load(storage, "student")


def noisy_two_cluster_problem(seed: int = 0):
    """Cluster B is class 1, but 90% of its rows carry a weak posterior leaning to class 0.

    Averaged, the soft labels in B favour class 0 (p1 = 0.9 * 0.35 + 0.1 * 0.95 = 0.41);
    weighted by confidence (0.07 for the weak rows, 0.71 for the confident ones) p1 = 0.68.
    """
    rng = np.random.default_rng(seed)
    n = 400
    cluster = rng.integers(0, 2, size=n)
    X = (np.where(cluster[:, None] == 0, -2.0, 2.0) + rng.normal(size=(n, 4))).astype(np.float32)
    posterior = np.tile([0.95, 0.05], (n, 1))
    in_b = cluster == 1
    weak = in_b & (rng.random(n) < 0.9)
    posterior[weak] = [0.65, 0.35]
    posterior[in_b & ~weak] = [0.05, 0.95]
    return X, posterior, cluster


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_confidence_weighting_changes_the_fit(name):
    X, posterior, truth = noisy_two_cluster_problem()
    config = dataclasses.replace(FAST, hidden=(8,), epochs=20)
    weighted = make_student(name, config, seed=0).fit(X, posterior)
    plain = make_student(name, dataclasses.replace(config, confidence_weighting=False), seed=0).fit(X, posterior)
    in_b = truth == 1
    assert (weighted.predict(X[in_b]) == 1).mean() > 0.8
    assert (plain.predict(X[in_b]) == 1).mean() < 0.2
    assert (weighted.predict(X[~in_b]) == 0).mean() > 0.9


def test_user_weights_multiply_in(problem):
    X, posterior, X_test, _ = problem
    plain = MLPStudent(FAST, seed=0).fit(X, posterior).predict_proba(X_test)
    ones = MLPStudent(FAST, seed=0).fit(X, posterior, weights=np.ones(len(X))).predict_proba(X_test)
    skewed = MLPStudent(FAST, seed=0).fit(X, posterior, weights=np.linspace(0.1, 1, len(X))).predict_proba(X_test)
    np.testing.assert_array_equal(plain, ones)
    assert not np.array_equal(plain, skewed)


def test_row_confidence():
    confidence = row_confidence(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.8, 0.1, 0.1]]))
    np.testing.assert_allclose(confidence[:2], [1.0, 0.0], atol=1e-12)
    assert 0 < confidence[2] < 1


def test_device_falls_back_to_cpu(problem, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, posterior, _, _ = problem
    student = MLPStudent(dataclasses.replace(FAST, device=None, epochs=1)).fit(X, posterior)
    assert student.device_ == "cpu"
    assert next(student.network_.parameters()).device.type == "cpu"
    with pytest.raises(InputError, match="no CUDA device"):
        MLPStudent(dataclasses.replace(FAST, device="cuda")).fit(X, posterior)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mlp_trains_on_gpu_when_present(problem, tmp_path):
    X, posterior, X_test, y_test = problem
    student = MLPStudent(dataclasses.replace(FAST, device=None), seed=0).fit(X, posterior)
    assert student.device_ == "cuda"
    assert (student.predict(X_test) == y_test).mean() > 0.9
    storage = open_storage(str(tmp_path))
    student.save(storage, "student")
    on_cpu = MLPStudent.load(storage, "student", device="cpu")
    np.testing.assert_allclose(on_cpu.predict_proba(X_test), student.predict_proba(X_test), atol=1e-4)


def test_logistic_student_reports_classes_without_mass(problem):
    X, posterior, X_test, _ = problem
    wide = np.hstack([posterior, np.zeros((len(posterior), 1))])  # a fourth class nobody votes for
    student = LogisticStudent(FAST).fit(X, wide)
    proba = student.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    assert (proba[:, 3] == 0).all()


def test_logistic_student_on_sparse_tfidf():
    from alchemist_core.students.features import TfidfFeaturizer

    texts = ["free money click here", "win a free prize now", "lovely song", "great video and song"] * 10
    posterior = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [0.8, 0.2]] * 10)
    X = TfidfFeaturizer(max_features=200).fit_transform(texts)
    for name in sorted(STUDENTS):
        student = make_student(name, FAST, seed=0).fit(X, posterior)
        assert student.predict(X[:4]).tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dropout": 1.0}, "dropout must be in"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"hidden": (16, 0)}, "hidden widths"),
        ({"lr": 0.0}, "lr must be > 0"),
    ],
)
def test_config_is_checked(change, message):
    with pytest.raises(InputError, match=message):
        dataclasses.replace(FAST, **change)


def test_config_accepts_json_lists():
    assert StudentHyperparameters(hidden=[64, 32]).hidden == (64, 32)
    assert StudentHyperparameters(hidden=()).hidden == ()


def test_linear_student_without_hidden_layers(problem):
    X, posterior, X_test, y_test = problem
    student = MLPStudent(dataclasses.replace(FAST, hidden=()), seed=0).fit(X, posterior)
    assert len(student.network_.layers) == 1
    assert (student.predict(X_test) == y_test).mean() > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"posterior": np.ones((5, 3))}, "same rows"),
        ({"posterior": -np.ones((300, 3))}, "non-negative"),
        ({"posterior": np.zeros((300, 3))}, "sum to 0"),
        ({"posterior": np.full((300, 3), 1 / 3)}, "nothing to learn"),
        ({"weights": np.ones(3)}, "weights must be 300"),
        ({"X_valid": np.zeros((2, 16))}, "both X_valid and y_valid"),
        ({"X_valid": np.zeros((2, 5)), "y_valid": np.zeros(2)}, "X_valid has 5 features"),
        ({"X_valid": np.zeros((2, 16)), "y_valid": np.array([0, 3])}, r"class indices in \[0, 2\]"),
    ],
)
def test_fit_inputs_are_checked(problem, kwargs, message):
    X, posterior, _, _ = problem
    arguments = {"posterior": posterior, **kwargs}
    with pytest.raises(InputError, match=message):
        MLPStudent(FAST).fit(X, arguments.pop("posterior"), **arguments)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_predict_checks_fitted_and_width(problem, name):
    X, posterior, _, _ = problem
    with pytest.raises(InputError, match="not fitted yet"):
        make_student(name, FAST).predict(X)
    student = make_student(name, dataclasses.replace(FAST, epochs=1)).fit(X, posterior)
    with pytest.raises(InputError, match="has 4 features, but the student was fitted with 16"):
        student.predict(np.zeros((2, 4)))


def test_make_student_rejects_unknown_names():
    with pytest.raises(InputError, match="expected one of"):
        make_student("xgboost")


# -- the fine-tuned encoder student ------------------------------------------------------------


def test_finetune_student_is_registered_with_its_own_defaults():
    from alchemist_core.students.finetune import FINETUNE_CONFIG, EncoderFineTuneStudent
    from alchemist_core.students.registry import TEXT_STUDENTS

    student = make_student("finetune", seed=3)
    assert isinstance(student, EncoderFineTuneStudent) and "finetune" in TEXT_STUDENTS
    assert student.config == FINETUNE_CONFIG and student.config.epochs <= 5 and student.config.lr < 1e-4
    assert student.max_seq_length == 128 and student.seed == 3


@pytest.mark.parametrize("X", [np.zeros((4, 8), dtype=np.float32), scipy.sparse.csr_matrix(np.eye(4)), "one text"])
def test_finetune_student_reads_texts_not_features(X):
    with pytest.raises(InputError, match="sequence of texts"):
        make_student("finetune").fit(X, np.full((4, 2), 0.5))


@pytest.mark.slow
def test_finetune_student_learns_saves_and_loads_on_a_tiny_input(tmp_path):
    from alchemist_core.students.finetune import FINETUNE_CONFIG

    spam = ["win a free prize now", "claim your free cash", "click here to win money"]
    ham = ["what a lovely song", "her voice is beautiful", "i love this melody"]
    texts = (spam + ham) * 3
    posterior = np.array([[0.1, 0.9]] * 3 + [[0.9, 0.1]] * 3 + [[0.2, 0.8]] * 3 + [[0.8, 0.2]] * 3 + [[0.3, 0.7]] * 3 + [[0.7, 0.3]] * 3)
    config = dataclasses.replace(FINETUNE_CONFIG, epochs=1, batch_size=8, device="cpu")
    state = torch.random.get_rng_state()
    student = make_student("finetune", config, seed=0).fit(texts, posterior, X_valid=spam + ham, y_valid=np.array([1, 1, 1, 0, 0, 0]))
    assert torch.equal(state, torch.random.get_rng_state())  # dropout drew from a forked RNG
    assert student.predict(["free money prize for you", "such a beautiful song"]).tolist() == [1, 0]
    assert len(student.history_) == 1 and "valid_accuracy" in student.history_[0]
    storage = open_storage(str(tmp_path))
    student.save(storage, "student")
    loaded = load_student(storage, "student", device="cpu")
    assert loaded.kind == "finetune" and loaded.max_seq_length == 128
    np.testing.assert_allclose(loaded.predict_proba(texts), student.predict_proba(texts), atol=1e-6)


def test_logistic_student_chooses_its_regularisation_on_the_valid_split(tmp_path):
    # Four in five rows are class 0: under strong regularisation only the intercept is left,
    # and every row gets class 0. The grid keeps the value that does better on valid.
    X_all, y_all = blobs(600, n_classes=2, seed=1)
    keep = np.flatnonzero((y_all == 0) | (np.arange(600) % 4 == 0))
    X_all, y_all = X_all[keep], y_all[keep]
    X, y, X_test, y_test = X_all[:200], y_all[:200], X_all[200:], y_all[200:]
    posterior = soft_labels(y, 2)
    with pytest.raises(InputError, match="chosen on a validation split"):
        LogisticStudent(FAST, C=(0.01, 10.0)).fit(X, posterior)
    student = LogisticStudent(FAST, C=(1e-6, 10.0)).fit(X, posterior, X_valid=X_test[:100], y_valid=y_test[:100])
    assert [r["C"] for r in student.history_] == [1e-6, 10.0]
    assert student.C_ == 10.0 and student.best_epoch_ == 2
    storage = open_storage(str(tmp_path))
    student.save(storage, "student")
    loaded = load_student(storage, "student")
    assert loaded.C_ == 10.0
    np.testing.assert_allclose(loaded.predict_proba(X_test), student.predict_proba(X_test))


def test_make_student_passes_constructor_params():
    assert make_student("logreg", FAST, C=5.0).C == 5.0
