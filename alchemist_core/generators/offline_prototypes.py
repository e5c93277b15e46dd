"""Embedding-prototype programs of the offline generator.

:class:`PrototypeBuilder` writes nearest-prototype programs over MiniLM sentence embeddings.
With enough labels the class prototypes are the normalised mean embeddings of each class's
labeled rows, and the per-class margins a program needs before it votes are chosen by
cross-validation on those rows (the smallest margin that reaches a target precision, and the
margin that maximises the class's net votes); without, the prototypes come from the spec's
class descriptions, keywords and exemplars, refined on the unlabeled sample rows, and the
margins are quantiles of the margins of the rows each class wins. The builder also gives the
mining its :class:`alchemist_core.generators.offline_mining.Verifier`, the classifier's view
of the sample rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from alchemist_core.generators.offline_mining import CV_FOLDS, Verifier
from alchemist_core.generators.offline_render import (
    Candidate,
    behaviour_note,
    render_prototypes,
)
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.sampling import stratified_folds
from alchemist_core.spec import TaskSpec

# A prototype margin no cosine margin reaches (it is at most 2): the class is never voted.
_NEVER = 2.0


class PrototypeBuilder:
    """Nearest-prototype candidates over MiniLM embeddings."""

    def __init__(
        self,
        spec: TaskSpec,
        labels: np.ndarray,
        embeddings: dict[str, Any],
        labeled_texts: list[str],
        sample_texts: list[str],
        seed: int,
        *,
        prototype_precision: float,
    ):
        self.prototype_precision = prototype_precision
        self.labeled_texts = labeled_texts  # only for the example comments
        self.sample_texts = sample_texts
        self.spec = spec
        self.labels = labels
        self.E_labeled = embeddings["labeled"]  # (n_labeled, dim)
        self.E_sample = embeddings["sample"]  # (n_sample, dim)
        self.E_spec = embeddings["spec"]  # per class (n_texts_c, dim)
        self.rng = np.random.default_rng(seed)
        self.summary: dict[str, Any] = {}
        self.verifier: Verifier | None = None

    def candidates(self) -> list[Candidate]:
        n_classes = self.spec.n_classes
        counts = np.bincount(self.labels, minlength=n_classes) if len(self.labels) else np.zeros(n_classes, int)
        if counts.min() >= 2 and len(self.labels) >= 4 * n_classes:
            return self._from_labels(counts)
        return self._from_spec(counts)

    def _from_labels(self, counts: np.ndarray) -> list[Candidate]:
        n_classes = self.spec.n_classes
        prototypes = _round(_class_means(self.E_labeled, self.labels, n_classes))
        predicted, margins = self._cross_validated()
        correct = predicted == self.labels
        if len(self.E_sample):
            self.verifier = Verifier(
                sample_prediction=_margins(self.E_sample, prototypes)[0],
                recall=np.array([(predicted[self.labels == c] == c).mean() for c in range(n_classes)]),
                false_rate=np.array([(predicted[self.labels != c] == c).mean() for c in range(n_classes)]),
            )
        confident = _margins_for_precision(predicted, margins, correct, self.prototype_precision, n_classes)
        broad = _margins_for_net_votes(predicted, margins, correct, n_classes)
        self.summary = {
            "source": "labeled rows",
            "cv_accuracy": round(float(correct.mean()), 4),
            "margins": {"confident": confident.tolist(), "broad": broad.tolist()},
        }
        note = (
            f"Each prototype is the L2-normalised mean MiniLM embedding of one class's labeled rows "
            f"({len(self.labels)} labeled rows in all), rounded to 4 decimals."
        )
        examples = _examples_per_class(self.E_labeled, self.labels, prototypes, self.labeled_texts)
        sizes = [f"{int(n)} labeled rows" for n in counts]
        out = []
        for kind, margin, priority in (("prototype", confident, 5), ("prototype_broad", broad, 40)):
            if kind == "prototype_broad" and (broad >= confident).all():
                continue
            votes = margins >= margin[predicted]
            how = (
                f"MARGINS were chosen by {CV_FOLDS}-fold cross-validation on the labeled rows, class by class: "
                + (
                    f"the smallest margin whose held-out votes for the class were at least "
                    f"{self.prototype_precision:.0%} correct (or, where none was, the most precise margin)"
                    if kind == "prototype"
                    else "the margin that maximises the class's held-out net votes (a correct vote counts 1, "
                    "a wrong one 1/(number of classes - 1))"
                )
                + f"; held-out precision {correct[votes].mean() if votes.any() else 0:.2f}, "
                f"coverage {votes.mean():.2f}."
            )
            if (margin >= _NEVER).any():
                how += f" A margin of {_NEVER:.1f} means the class is never voted."
            out.append(self._candidate(kind, priority, prototypes, margin, note + " " + how, sizes, examples))
        return out

    def _from_spec(self, counts: np.ndarray) -> list[Candidate]:
        n_classes = self.spec.n_classes
        initial = []
        for c in range(n_classes):
            rows = [self.E_spec[c]]
            if counts[c]:
                rows.append(self.E_labeled[self.labels == c])
            initial.append(_normalise(np.concatenate(rows).mean(axis=0)))
        prototypes = np.stack(initial)
        refined = False
        if len(self.E_sample) >= 20 * n_classes:
            prototypes, refined = _refine_on_sample(prototypes, self.E_sample), True
        prototypes = _round(prototypes)
        if len(self.E_sample):
            self.verifier = Verifier(sample_prediction=_margins(self.E_sample, prototypes)[0])
        reference = self.E_sample if len(self.E_sample) else self.E_labeled
        # No labels to calibrate on: per class, vote on the more confident half (and, broadly,
        # on 80%) of the rows the class wins.
        if len(reference):
            nearest, margins = _margins(reference, prototypes)
            confident = _margins_at_quantile(nearest, margins, 0.5, n_classes)
            broad = _margins_at_quantile(nearest, margins, 0.2, n_classes)
        else:
            # Not a single row to look at: generic margins.
            confident, broad = np.full(n_classes, 0.05), np.zeros(n_classes)
        self.summary = {
            "source": "task spec" + (" refined on sample rows" if refined else ""),
            "margins": {"confident": confident.tolist(), "broad": broad.tolist()},
        }
        note = (
            "Each prototype starts as the L2-normalised mean MiniLM embedding of the class's name and "
            "description, keywords and exemplars in the task spec"
            + (", plus its labeled rows" if counts.sum() else "")
            + (
                "; it was then refined on the unlabeled sample rows (three rounds of: assign each row to its "
                "nearest prototype, keep the more confident half, average)"
                if refined
                else ""
            )
            + ". Rounded to 4 decimals."
        )
        examples = (
            _examples_per_class(self.E_sample, _margins(self.E_sample, prototypes)[0], prototypes, self.sample_texts)
            if len(self.E_sample)
            else [[] for _ in range(n_classes)]
        )
        sizes = ["task spec" for _ in range(n_classes)]
        out = []
        for kind, margin, quantile, priority in (
            ("prototype", confident, 0.5, 15),
            ("prototype_broad", broad, 0.8, 45),
        ):
            how = (
                f"Without labels to calibrate on, the MARGIN of a class is the margin at the {quantile:.0%} "
                "mark of the unlabeled sample rows it wins, ranked by margin, so the program votes on about "
                "that share of them."
            )
            out.append(self._candidate(kind, priority, prototypes, margin, note + " " + how, sizes, examples))
        return out

    def _cross_validated(self) -> tuple[np.ndarray, np.ndarray]:
        """Held-out (nearest class, margin) of every labeled row, prototypes fit on the other folds."""
        n_classes = self.spec.n_classes
        fold = stratified_folds(self.labels, CV_FOLDS, seed=self.rng, carry_over=False)
        predicted = np.zeros(len(self.labels), dtype=np.int64)
        margins = np.zeros(len(self.labels))
        for k in range(CV_FOLDS):
            test = fold == k
            if not test.any():
                continue
            train = ~test
            means = _class_means(self.E_labeled[train], self.labels[train], n_classes)
            best, margin = _margins(self.E_labeled[test], _round(means))
            predicted[test] = best
            margins[test] = margin
        return predicted, margins

    def _candidate(
        self,
        kind: str,
        priority: int,
        prototypes: np.ndarray,
        margin: np.ndarray,
        note: str,
        sizes: list[str],
        examples: list[list[str]],
    ) -> Candidate:
        candidate = Candidate(kind, priority, None)
        for which, E in (("labeled", self.E_labeled), ("sample", self.E_sample)):
            best, margins = _margins(E, prototypes) if len(E) else (np.zeros(0, int), np.zeros(0))
            votes = np.where(margins >= margin[best], best, ABSTAIN).astype(np.int64)
            setattr(candidate, f"votes_{which}", votes)
        behaviour = behaviour_note(candidate, self.labels)
        candidate.source = render_prototypes(self.spec, prototypes, margin, note, behaviour, sizes, examples)
        candidate.origin = {"method": kind, "margins": margin.tolist(), "n_labeled_rows": len(self.labels)}
        return candidate


def _class_means(E: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, dim) normalised class means; a class without rows gets a zero vector."""
    means = np.zeros((n_classes, E.shape[1]), dtype=np.float64)
    for c in range(n_classes):
        rows = E[labels == c]
        if len(rows):
            means[c] = _normalise(rows.mean(axis=0))
    return means


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _round(prototypes: np.ndarray) -> np.ndarray:
    # The program holds the rounded numbers, so every estimate uses them too.
    return np.round(np.asarray(prototypes, dtype=np.float64), 4)


def _margins(E: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest class, cosine margin over the runner-up) of each row of ``E``."""
    scores = np.asarray(E, dtype=np.float64) @ prototypes.T  # (n_rows, n_classes)
    order = np.argsort(-scores, axis=1, kind="stable")
    best = order[:, 0]
    rows = np.arange(len(scores))
    return best, scores[rows, best] - scores[rows, order[:, 1]]


def _margins_for_precision(
    predicted: np.ndarray, margins: np.ndarray, correct: np.ndarray, target: float, n_classes: int
) -> np.ndarray:
    """Per class, the smallest margin whose held-out votes for the class reach ``target`` precision.

    Only margins that keep at least 10% of the class's held-out votes (and 3) count; where none
    reaches ``target``, the most precise of them. A class never predicted gets :data:`_NEVER`.
    """
    out = np.full(n_classes, _NEVER)
    for c in range(n_classes):
        voted = predicted == c
        if not voted.any():
            continue
        order = np.argsort(-margins[voted], kind="stable")
        ranked_margins, ranked_correct = margins[voted][order], correct[voted][order]
        n_votes = np.arange(1, len(order) + 1)
        precision = np.cumsum(ranked_correct) / n_votes
        enough = n_votes >= max(3, math.ceil(0.1 * len(order)))
        if not enough.any():
            continue
        reaching = np.flatnonzero(enough & (precision >= target))
        index = reaching[-1] if len(reaching) else int(np.flatnonzero(enough)[np.argmax(precision[enough])])
        out[c] = round(float(ranked_margins[index]), 4)
    return out


def _margins_for_net_votes(
    predicted: np.ndarray, margins: np.ndarray, correct: np.ndarray, n_classes: int
) -> np.ndarray:
    """Per class, the margin that maximises the class's held-out net votes.

    A correct vote counts +1 and a wrong one ``-1 / (n_classes - 1)``: with ``k`` classes a
    vote carries information as long as it is right more often than ``1 / k`` (a uniform
    guess), not ``1 / 2``; for two classes this is correct minus wrong votes.
    """
    out = np.full(n_classes, _NEVER)
    wrong_cost = 1.0 / max(n_classes - 1, 1)
    for c in range(n_classes):
        voted = predicted == c
        if not voted.any():
            continue
        order = np.argsort(-margins[voted], kind="stable")
        net = np.cumsum(np.where(correct[voted][order], 1.0, -wrong_cost))
        if net.max() > 0:
            out[c] = round(float(margins[voted][order][int(np.argmax(net))]), 4)
    return out


def _margins_at_quantile(nearest: np.ndarray, margins: np.ndarray, quantile: float, n_classes: int) -> np.ndarray:
    """Per class, the ``quantile`` of the margins of the rows the class wins (:data:`_NEVER` if none)."""
    out = np.full(n_classes, _NEVER)
    for c in range(n_classes):
        won = margins[nearest == c]
        if len(won):
            out[c] = round(float(np.quantile(won, quantile)), 4)
    return out


def _refine_on_sample(prototypes: np.ndarray, E: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Move zero-shot prototypes toward the unlabeled rows they confidently attract."""
    for _ in range(rounds):
        best, margin = _margins(E, prototypes)
        updated = prototypes.copy()
        for c in range(len(prototypes)):
            members = best == c
            if members.sum() < 3:
                continue
            confident = members & (margin >= np.median(margin[members]))
            updated[c] = _normalise(E[confident].mean(axis=0) + prototypes[c])
        prototypes = updated
    return prototypes


def _examples_per_class(
    E: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, texts: list[str], n: int = 2
) -> list[list[str]]:
    """Per class, the texts of the ``n`` rows of that class nearest its prototype."""
    out = []
    for c in range(len(prototypes)):
        members = np.flatnonzero(labels == c)
        if not len(members) or not texts:
            out.append([])
            continue
        similarity = E[members] @ prototypes[c]
        chosen = members[np.argsort(-similarity, kind="stable")[:n]]
        out.append([texts[i] for i in chosen])
    return out
