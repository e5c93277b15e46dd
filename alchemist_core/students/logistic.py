"""The logistic-regression student: scikit-learn on the same soft labels, a strong quick baseline on frozen embeddings."""

from __future__ import annotations

import pickle
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from alchemist_core.errors import InputError

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage
from alchemist_core.students.base import (
    _CONFIG_FILE,
    StudentHyperparameters,
    _check_fit_inputs,
    _check_fitted,
    _check_n_features,
    _check_X,
    _describe,
    _is_sparse,
    _read_meta,
    _restore_fitted,
    _training_weights,
    validation_score,
)


class LogisticStudent:
    """scikit-learn logistic regression fitted on soft labels.

    Each row is repeated once per class with posterior mass above ``1e-3``, weighted by that
    mass (times the confidence and user weights): the weighted log-loss of the copies equals
    the soft cross-entropy of the row.

    Parameters
    ----------
    config : StudentHyperparameters
        Uses ``confidence_weighting``; the MLP settings do not apply.
    seed : int
    C : float or sequence of float
        Inverse regularisation strength, as in ``LogisticRegression``. A sequence is a grid:
        one model per value, and the one with the best validation accuracy is kept (ties go to
        the earlier value), so a sequence needs ``X_valid, y_valid`` in :meth:`fit`. On
        L2-normalised embeddings the default ``C=1`` underfits (every coefficient is small
        next to the regularisation), which is why :data:`LOGISTIC_C_GRID` exists.

    Attributes
    ----------
    n_features_in_, n_classes_ : int
    C_ : float
        The regularisation strength of the fitted model.
    history_ : list of dict
        One entry per ``C`` tried: ``C``, ``loss`` on the training copies and, with a
        validation set, ``valid_accuracy``.
    device_ : str
        Always ``"cpu"``.
    model_ : sklearn.linear_model.LogisticRegression
    """

    kind = "logreg"
    _MIN_MASS = 1e-3

    def __init__(self, config: StudentHyperparameters = StudentHyperparameters(), *, seed: int = 0, C: float = 1.0):
        self.config = config
        self.seed = seed
        self.C = C

    def fit(
        self,
        X: Any,
        posterior: Any,
        *,
        weights: Any = None,
        X_valid: Any = None,
        y_valid: Any = None,
    ) -> "LogisticStudent":
        """Fit on soft labels; same parameters as :meth:`MLPStudent.fit` (no early stopping)."""
        from sklearn.linear_model import LogisticRegression

        X, posterior, weights, X_valid, y_valid = _check_fit_inputs(X, posterior, weights, X_valid, y_valid)
        weights = _training_weights(posterior, weights, self.config.confidence_weighting)
        rows, classes = np.nonzero(posterior > self._MIN_MASS)
        sample_weight = weights[rows] * posterior[rows, classes]
        present = np.unique(classes)
        if len(present) < 2:
            raise InputError(
                f"the posterior puts mass only on class(es) {present.tolist()}; logistic regression needs two or more"
            )
        grid = [float(self.C)] if np.isscalar(self.C) else [float(c) for c in self.C]
        if not grid or min(grid) <= 0:
            raise InputError(f"C must be a positive float or a non-empty sequence of them, got {self.C!r}")
        if len(grid) > 1 and X_valid is None:
            raise InputError(f"a grid of C values {grid} is chosen on a validation split; pass X_valid and y_valid")
        self.device_ = "cpu"
        self.n_features_in_ = X.shape[1]
        self.n_classes_ = posterior.shape[1]
        self.history_ = []
        X_fit, active = X[rows], None
        if _is_sparse(X_fit):
            # NB: a feature that is 0 on every training row gets weight 0 at the optimum of an
            # L2-regularised fit, so fitting on the others gives the same model, much faster
            # where a TF-IDF vocabulary is far wider than the rows (a student of a few labeled rows).
            used = np.flatnonzero(X_fit.getnnz(axis=0) > 0)
            if len(used) < X_fit.shape[1]:
                X_fit, active = X_fit[:, used], used
        best: tuple[float, int, Any] | None = None
        for index, C in enumerate(grid):
            started = time.perf_counter()
            # newton-cg reaches the same optimum as lbfgs 2 to 4 times faster on these problems
            # (many classes, soft-label copies, wide TF-IDF).
            model = LogisticRegression(C=C, solver="newton-cg", max_iter=1000, random_state=self.seed)
            model.fit(X_fit, classes, sample_weight=sample_weight)
            if active is not None:
                coef = np.zeros((model.coef_.shape[0], X.shape[1]), dtype=model.coef_.dtype)
                coef[:, active] = model.coef_
                model.coef_, model.n_features_in_ = coef, X.shape[1]
            self.model_, self.C_ = model, C
            proba = self.predict_proba(X)
            loss = float(-(weights * (posterior * np.log(np.clip(proba, 1e-12, 1.0))).sum(axis=1)).mean())
            record: dict[str, float] = {"epoch": index + 1, "C": C, "loss": loss, "seconds": time.perf_counter() - started}
            score = 0.0
            if X_valid is not None:
                key, score = validation_score(self.predict_proba(X_valid), y_valid)
                record[key] = score
            self.history_.append(record)
            if best is None or score > best[0]:
                best = (score, index, model)
        _, index, self.model_ = best
        self.C_ = grid[index]
        self.best_epoch_ = index + 1
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``float64`` of shape ``(n_rows, n_classes)``; 0 for classes never seen."""
        _check_fitted(self)
        X = _check_X(X)
        _check_n_features(X, self.n_features_in_)
        out = np.zeros((X.shape[0], self.n_classes_), dtype=np.float64)
        out[:, self.model_.classes_] = self.model_.predict_proba(X)
        return out

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        return self.predict_proba(X).argmax(axis=1)

    def save(self, storage: Storage, *parts: str) -> str:
        """Write ``config.json`` and ``model.pkl`` under ``parts``; returns the folder's URI."""
        _check_fitted(self)
        storage.write_bytes(pickle.dumps(self.model_, protocol=pickle.HIGHEST_PROTOCOL), *parts, "model.pkl")
        storage.write_json({**_describe(self), "C": self.C_}, *parts, _CONFIG_FILE)
        return storage.uri(*parts)

    @classmethod
    def load(cls, storage: Storage, *parts: str, device: str | None = None) -> "LogisticStudent":
        """A student saved by :meth:`save`. Unpickling runs code: load only artifacts this project wrote."""
        meta = _read_meta(storage, parts, cls.kind)
        student = cls(StudentHyperparameters(**meta["config"]), seed=meta["seed"], C=meta["C"])
        student.C_ = meta["C"]
        student.model_ = pickle.loads(storage.read_bytes(*parts, "model.pkl"))
        student.device_ = "cpu"
        _restore_fitted(student, meta)
        return student


LOGISTIC_C_GRID = (0.1, 1.0, 10.0, 100.0)


"""Regularisation strengths a :class:`LogisticStudent` may choose among on a validation split."""
