"""Out-of-fold choices: the metric, the folds, honest scores, the floor, and the collapse guard."""

from __future__ import annotations

import numpy as np
import pytest

from alchemist_core.errors import InputError
from alchemist_core.report.metrics import classification_metrics
from alchemist_core.selection import (
    LABEL_MODEL_FINAL,
    CandidateScore,
    FoldVotes,
    MetricChoice,
    Selection,
    bootstrap_interval,
    choose_label_model_only,
    corrected_for_choice,
    cross_fit_label_models,
    is_collapsed,
    label_model_candidates,
    make_folds,
    pick,
    resolve_metric,
    select,
    weighted_scores,
)
from alchemist_core.students.features import TfidfFeaturizer
from alchemist_core.students.training import StudentChoice

ACCURACY = MetricChoice("accuracy", "accuracy: the spec sets no metric", False)

WORDS = {
    0: ["invoice", "refund", "charge", "payment", "price", "fee"],
    1: ["crash", "error", "bug", "slow", "login", "freeze"],
    2: ["parcel", "delivery", "courier", "tracking", "shipped", "late"],
}
FILLER = ["hello", "please", "thanks", "team", "today", "again", "my", "the", "it", "is"]


def _texts(y: np.ndarray, rng: np.random.Generator, *, cue: float = 0.9) -> list[str]:
    """A text per label: filler words plus, with probability ``cue``, a word of its class."""
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, size=5))
        if rng.random() < cue:
            words.append(str(rng.choice(WORDS[int(label)])))
        texts.append(" ".join(words))
    return texts


def _task(n_train: int, n_valid: int, n_classes: int, seed: int, shares=None):
    rng = np.random.default_rng(seed)
    p = shares if shares is not None else np.full(n_classes, 1.0 / n_classes)
    y_train = rng.choice(n_classes, size=n_train, p=p)
    y_valid = rng.choice(n_classes, size=n_valid, p=p)
    texts = {"train": _texts(y_train, rng), "valid": _texts(y_valid, rng)}
    featurizer = TfidfFeaturizer().fit(texts["train"])
    features = {split: featurizer.transform(t) for split, t in texts.items()}
    return y_train, y_valid, features, rng


def _inputs(features):
    return lambda kind: features


TFIDF_CANDIDATES = [
    StudentChoice("logreg", "tfidf", "covered"),
    StudentChoice("logreg", "tfidf", "covered+gold"),
    StudentChoice("logreg", "tfidf", "gold"),
]


# -- the metric --------------------------------------------------------------------------------


def test_the_spec_metric_wins_and_a_skewed_multiclass_split_is_judged_by_macro_f1():
    assert resolve_metric("binary_f1", [0, 1, 1], 2) == MetricChoice("binary_f1", "binary_f1, set in the task spec", True)
    skewed = resolve_metric(None, [0] * 69 + [1] * 20 + [2] * 11, 3, ["positive", "neutral", "negative"])
    assert skewed.name == "macro_f1" and not skewed.explicit
    assert "'positive'" in skewed.reason and "69%" in skewed.reason
    assert resolve_metric(None, [0] * 40 + [1] * 30 + [2] * 30, 3).name == "accuracy"
    # Two classes, however skewed: accuracy (the collapse guard still applies).
    assert resolve_metric(None, [0] * 90 + [1] * 10, 2).name == "accuracy"


def test_collapse_needs_one_class_above_90_percent_where_valid_has_two_above_10():
    assert is_collapsed([0.97, 0.02, 0.01], [0.69, 0.2, 0.11])
    assert not is_collapsed([0.85, 0.1, 0.05], [0.69, 0.2, 0.11])
    assert not is_collapsed([0.95, 0.05], [0.93, 0.07])  # valid itself is that skewed


def _score(name, accuracy, macro_f1, shares, valid_shares=(0.7, 0.2, 0.1), role="student"):
    return CandidateScore(name, role, accuracy, macro_f1, None, tuple(shares), is_collapsed(shares, valid_shares))


def test_a_collapsed_winner_on_accuracy_gives_way_to_the_best_macro_f1_with_a_warning():
    always_positive = _score("label_model", 0.706, 0.276, (0.999, 0.001, 0.0), role="label model")
    balanced = _score("logreg/tfidf/gold", 0.690, 0.560, (0.66, 0.21, 0.13), role="supervised")
    winner, chosen_by, warnings = pick([always_positive, balanced], ACCURACY)
    assert winner is balanced and chosen_by == "macro_f1"
    assert len(warnings) == 1 and "label_model puts 100% of the training rows in one class" in warnings[0]
    assert "logreg/tfidf/gold has the best macro-F1" in warnings[0]
    # A metric set in the spec is obeyed, and the report still warns.
    explicit = MetricChoice("accuracy", "accuracy, set in the task spec", True)
    winner, chosen_by, warnings = pick([always_positive, balanced], explicit)
    assert winner is always_positive and chosen_by == "accuracy" and "kept, because the spec chooses" in warnings[0]


def test_ties_go_to_the_earlier_candidate():
    first, second = _score("a", 0.8, 0.7, (0.5, 0.3, 0.2)), _score("b", 0.8, 0.75, (0.5, 0.3, 0.2))
    assert pick([first, second], ACCURACY)[0] is first


# -- the estimate ------------------------------------------------------------------------------


def _scored(names, predictions, y):
    return [
        CandidateScore(name, "student", *[classification_metrics(y, predictions[name], 3)[k] for k in ("accuracy", "macro_f1")], None, (0.4, 0.3, 0.3), False)
        for name in names
    ]


def test_the_best_of_many_equal_candidates_is_lucky_and_the_estimate_corrects_it():
    # Twenty candidates, each right on a random 70% of 200 rows: the best out-of-fold score is
    # well above 0.70 by luck alone; the corrected estimate is back near 0.70.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=200)
    names = [f"c{i}" for i in range(20)]
    predictions = {name: np.where(rng.random(200) < 0.7, y, (y + 1) % 3) for name in names}
    scores = _scored(names, predictions, y)
    winner, chosen_by, _ = pick(scores, ACCURACY)
    assert winner.accuracy >= 0.73
    estimate = corrected_for_choice(scores, predictions, y, 3, ACCURACY, seed=0)
    low, high = bootstrap_interval(y, predictions[winner.name], 3, chosen_by, seed=0)
    typical = np.mean([s.accuracy for s in scores])
    assert abs(typical - 0.70) < 0.01
    # Back near what any of them gets (the correction errs on the cautious side, as published).
    assert abs(estimate["accuracy"] - typical) < 0.04 and estimate["accuracy"] < winner.accuracy - 0.05
    assert low < winner.accuracy < high and estimate["binary_f1"] is None


def test_a_clear_winner_keeps_its_score():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=200)
    predictions = {"strong": np.where(rng.random(200) < 0.9, y, (y + 1) % 3)}
    predictions |= {f"weak{i}": np.where(rng.random(200) < 0.6, y, (y + 2) % 3) for i in range(5)}
    scores = _scored(list(predictions), predictions, y)
    winner, _, _ = pick(scores, ACCURACY)
    estimate = corrected_for_choice(scores, predictions, y, 3, ACCURACY, seed=0)
    assert winner.name == "strong" and abs(estimate["accuracy"] - winner.accuracy) < 0.01


def test_weighted_scores_match_the_metrics_on_the_rows_they_count():
    rng = np.random.default_rng(5)
    y, pred = rng.integers(0, 2, size=60), rng.integers(0, 2, size=60)
    counts = np.bincount(rng.integers(0, 60, size=60), minlength=60)
    rows = np.repeat(np.arange(60), counts)
    expected = classification_metrics(y[rows], pred[rows], 2)
    got = weighted_scores(counts[None, :], y, pred, 2)
    for key in ("accuracy", "macro_f1", "binary_f1"):
        assert got[key][0] == pytest.approx(expected[key])


# -- folds -------------------------------------------------------------------------------------


def test_folds_are_stratified_and_need_labeled_rows():
    y = np.array([0] * 30 + [1] * 10 + [2] * 5)
    folds = make_folds(y, n_folds=5, seed=0)
    assert folds.n_folds == 5
    for k in range(5):
        assert np.bincount(y[folds.held_out(k)], minlength=3).tolist() in ([6, 2, 1],)
        assert not (folds.held_out(k) & folds.labeled(k)).any()
    assert make_folds(y, n_folds=5, seed=0).fold.tolist() == folds.fold.tolist()
    assert make_folds(y, n_folds=5, seed=1).fold.tolist() != folds.fold.tolist()
    with pytest.raises(InputError, match="at least 10 labeled"):
        make_folds([0, 1, 0, 1], seed=0)
    with pytest.raises(InputError, match="labeled valid rows only"):
        make_folds([0, 1] * 10 + [-1], seed=0)
    assert make_folds([0, 1] * 6, n_folds=10, seed=0).n_folds == 6  # at least two rows per fold


# -- honest scores -----------------------------------------------------------------------------


def test_programs_mined_on_the_labeled_rows_do_not_score_in_sample():
    # Each fold's "programs" echo the gold label of every labeled row they were mined from and
    # guess elsewhere: in sample they look perfect, out of fold they are a coin flip.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=100)
    folds = make_folds(y, seed=0)
    n_train = 300
    per_fold = []
    for k in range(folds.n_folds):
        seen = folds.labeled(k)
        L_valid = np.where(seen[:, None], y[:, None], rng.integers(0, 2, size=(100, 1))).repeat(3, axis=1).astype(np.int8)
        L_train = rng.integers(0, 2, size=(n_train, 3)).astype(np.int8)
        per_fold.append(FoldVotes(("p1", "p2", "p3"), L_train, L_valid))
    result = cross_fit_label_models(per_fold, folds, y, 2, metric=ACCURACY, seed=0, curate=False)
    assert all(score.accuracy < 0.7 for score in result.scores)  # in sample it would be 1.0


def test_the_supervised_floor_wins_when_the_programs_are_noise():
    y_train, y_valid, features, rng = _task(400, 120, 3, seed=1)
    noise = FoldVotes(
        ("p1", "p2", "p3"), rng.integers(0, 3, size=(400, 3)).astype(np.int8), rng.integers(0, 3, size=(120, 3)).astype(np.int8)
    )
    folds = make_folds(y_valid, seed=0)
    selection = select([noise], folds, y_valid, 3, _inputs(features), metric=ACCURACY, seed=0, student_candidates=TFIDF_CANDIDATES)
    # The supervised floor, or the blend, where the label model (which learned to give these
    # programs no weight) leaves the floor's labels as they are.
    assert selection.winner in ("logreg/tfidf/gold", "logreg/tfidf/covered+gold", "blend")
    assert selection.winner_score.accuracy >= selection.candidate("logreg/tfidf/gold").accuracy
    assert selection.winner_score.accuracy > selection.candidate(LABEL_MODEL_FINAL).accuracy + 0.2
    assert selection.winner_score.accuracy > 0.7


def test_good_programs_beat_the_supervised_floor():
    y_train, y_valid, features, rng = _task(600, 60, 3, seed=2)

    def votes(y):
        # Three programs, each right on 90% of the rows it votes on and voting on 70% of them.
        L = np.where(rng.random((len(y), 3)) < 0.9, y[:, None], (y[:, None] + 1) % 3)
        return np.where(rng.random((len(y), 3)) < 0.7, L, -1).astype(np.int8)

    good = FoldVotes(("p1", "p2", "p3"), votes(y_train), votes(y_valid))
    folds = make_folds(y_valid, seed=0)
    selection = select([good], folds, y_valid, 3, _inputs(features), metric=ACCURACY, seed=0, student_candidates=TFIDF_CANDIDATES)
    assert selection.winner != "logreg/tfidf/gold"
    assert selection.margins()["supervised"] > 0
    assert selection.label_model in ("majority", "weighted", "weighted+valid", "snorkel")


def test_the_label_model_alone_is_scored_with_a_student_where_no_program_votes():
    y_train, y_valid, features, rng = _task(400, 80, 3, seed=3)
    # Perfect programs that vote on half of the rows only.
    L_train = np.where(rng.random((400, 3)) < 0.5, y_train[:, None], -1).astype(np.int8)
    L_valid = np.where(np.arange(80)[:, None] % 2 == 0, y_valid[:, None], -1).repeat(3, axis=1).astype(np.int8)
    folds = make_folds(y_valid, seed=0)
    selection = select(
        [FoldVotes(("a", "b", "c"), L_train, L_valid)], folds, y_valid, 3, _inputs(features), metric=ACCURACY, seed=0,
        student_candidates=TFIDF_CANDIDATES,
    )
    hybrid = selection.candidate(LABEL_MODEL_FINAL)
    assert selection.fallback_student in hybrid.note
    # Right on every covered row, and the student's accuracy on the others: well above half.
    assert hybrid.accuracy > 0.75


def test_a_collapsing_label_model_is_not_chosen_when_the_metric_is_left_to_the_run():
    shares = [0.7, 0.2, 0.1]
    y_train, y_valid, features, rng = _task(500, 150, 3, seed=4, shares=shares)
    # Programs that only ever vote the majority class, on nearly every row (an LLM's "positive" rules).
    def majority_votes(n_rows):
        return np.where(rng.random((n_rows, 3)) < 0.95, 0, -1).astype(np.int8)

    majority_only = FoldVotes(("a", "b", "c"), majority_votes(500), majority_votes(150))
    folds = make_folds(y_valid, seed=0)
    metric = resolve_metric(None, y_valid, 3)
    assert metric.name == "macro_f1"
    selection = select([majority_only], folds, y_valid, 3, _inputs(features), metric=metric, seed=0, student_candidates=TFIDF_CANDIDATES)
    assert selection.candidate(LABEL_MODEL_FINAL).collapsed
    assert selection.winner != LABEL_MODEL_FINAL and not selection.winner_score.collapsed
    # With accuracy (e.g. a binary-looking rule) the guard steps in and says so.
    guarded = select([majority_only], folds, y_valid, 3, _inputs(features), metric=ACCURACY, seed=0, student_candidates=TFIDF_CANDIDATES)
    assert not guarded.winner_score.collapsed


def test_a_student_of_pseudolabels_alone_is_fitted_once_when_every_fold_shares_its_training_rows(monkeypatch):
    import alchemist_core.students.training as training

    y_train, y_valid, features, rng = _task(300, 60, 3, seed=5)
    L = np.where(rng.random((300, 3)) < 0.6, y_train[:, None], -1).astype(np.int8)
    votes = FoldVotes(("a", "b", "c"), L, np.where(rng.random((60, 3)) < 0.6, y_valid[:, None], -1).astype(np.int8))
    calls = []
    original = training.fit_student
    monkeypatch.setattr(training, "fit_student", lambda choice, *a, **k: calls.append(choice.name) or original(choice, *a, **k))
    folds = make_folds(y_valid, seed=0)
    select(
        [votes], folds, y_valid, 3, _inputs(features), metric=ACCURACY, seed=0, student_candidates=TFIDF_CANDIDATES,
        label_model_candidates=("majority",),
    )
    # The majority vote's posterior on covered rows does not depend on the labeled rows: one fit.
    assert calls.count("logreg/tfidf/covered") == 1
    assert calls.count("logreg/tfidf/gold") == folds.n_folds


def test_without_a_student_the_label_model_gives_the_final_labels():
    y_train, y_valid, features, rng = _task(200, 50, 3, seed=6)
    L_train = np.where(rng.random((200, 3)) < 0.8, y_train[:, None], -1).astype(np.int8)
    L_valid = np.where(rng.random((50, 3)) < 0.8, y_valid[:, None], -1).astype(np.int8)
    selection = choose_label_model_only([FoldVotes(("a", "b", "c"), L_train, L_valid)], make_folds(y_valid, seed=0), y_valid, 3, metric=ACCURACY, seed=0)
    assert selection.winner == LABEL_MODEL_FINAL and selection.fallback_student == "" and selection.student == ""
    assert len(selection.candidates) == 1 and selection.winner_score.accuracy > 0.8


def test_a_selection_round_trips_through_json_with_its_margins():
    y_train, y_valid, features, rng = _task(200, 50, 3, seed=7)
    L = np.where(rng.random((200, 3)) < 0.7, y_train[:, None], -1).astype(np.int8)
    Lv = np.where(rng.random((50, 3)) < 0.7, y_valid[:, None], -1).astype(np.int8)
    selection = select(
        [FoldVotes(("a", "b", "c"), L, Lv)], make_folds(y_valid, seed=0), y_valid, 3, _inputs(features), metric=ACCURACY, seed=0,
        student_candidates=TFIDF_CANDIDATES,
    )
    data = selection.to_json()
    again = Selection.from_json(data)
    assert again == selection and again.digest == selection.digest
    assert set(data["margins"]) <= {"runner_up", "label_model", "supervised"} and "runner_up" in data["margins"]
    assert data["margins"]["runner_up"] >= 0


def test_label_model_candidates_follow_the_config():
    assert label_model_candidates("auto") == ("majority", "weighted", "weighted+valid", "snorkel")
    assert label_model_candidates("snorkel") == ("snorkel",)
    with pytest.raises(InputError, match="unknown label model"):
        label_model_candidates("flyingsquid")


# -- label models out of fold -------------------------------------------------------------------


def _copied_weak_programs(n_rows: int, seed: int):
    """One accurate program and two identical copies of a weak one: they outvote it and agree with each other."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n_rows)
    strong = np.where(rng.random(n_rows) < 0.9, y, 1 - y)
    weak = np.where(rng.random(n_rows) < 0.6, y, 1 - y)
    return np.column_stack([strong, weak, weak]).astype(np.int8), y


def test_valid_labels_rescue_a_program_outvoted_by_copies():
    L_train, _ = _copied_weak_programs(2000, seed=1)
    L_valid, y_valid = _copied_weak_programs(300, seed=2)
    votes = FoldVotes(("strong", "weak", "weak_copy"), L_train, L_valid)
    result = cross_fit_label_models(
        [votes], make_folds(y_valid, seed=0), y_valid, 2, metric=ACCURACY, seed=0,
        candidates=("majority", "weighted", "weighted+valid"), curate=False,
    )
    scores = {s.name: s.accuracy for s in result.scores}
    # Without labels the copies look like the most reliable programs; the labeled rows say otherwise.
    assert scores["weighted"] < 0.7 and scores["weighted+valid"] > 0.85
    assert result.chosen == "weighted+valid"


def test_a_program_is_never_judged_on_the_row_it_is_scored_on():
    # Program i votes a coin flip on valid row i only. Judged in-sample, the flips that were
    # right would keep their weight and the wrong ones lose it (about 0.75 accuracy); judged
    # out of fold, no program has evidence on its own row and the score stays at chance.
    from alchemist_core.labelmodel.aggregate import make_label_model, probs_to_preds
    from alchemist_core.report.metrics import accuracy

    rng = np.random.default_rng(0)
    n = 200
    y = rng.permutation([0, 1] * (n // 2))
    L_valid = np.full((n, n), -1, dtype=np.int8)
    L_valid[np.arange(n), np.arange(n)] = rng.integers(0, 2, size=n)
    L_train = np.full((50, n), -1, dtype=np.int8)
    votes = FoldVotes(tuple(f"p{i}" for i in range(n)), L_train, L_valid)
    result = cross_fit_label_models([votes], make_folds(y, seed=0), y, 2, metric=ACCURACY, seed=0, candidates=("weighted+valid",), curate=False)
    assert result.scores[0].accuracy < 0.62
    in_sample = make_label_model("weighted", 2, seed=0, uncovered="prior").fit(L_train, L_valid, y)
    assert accuracy(y, probs_to_preds(in_sample.predict_proba(L_valid))) > 0.68


def test_the_class_balance_of_a_label_model_comes_from_the_other_folds():
    # No votes at all: a label model can only predict its class prior, read off the other
    # folds' labels (smoothed), never the labels of the rows it is scored on.
    L = np.full((200, 3), -1, dtype=np.int8)
    y = np.random.default_rng(0).permutation([1] * 140 + [0] * 60)
    votes = FoldVotes(("a", "b", "c"), L, L)
    result = cross_fit_label_models([votes], make_folds(y, seed=0), y, 2, metric=ACCURACY, seed=0, candidates=("majority",), curate=False)
    assert result.scores[0].accuracy == pytest.approx(0.7)
    assert result.valid_posterior[:, 1] == pytest.approx(np.full(200, (112 + 1) / (160 + 2)))
