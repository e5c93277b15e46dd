"""What every student shares: the training settings, soft-label checks, validation scores, saving and loading."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from alchemist_core.errors import InputError, StorageError

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage



logger = logging.getLogger(__name__)


_CONFIG_FILE = "config.json"


_PREDICT_BATCH = 4096


@dataclass(frozen=True)
class StudentHyperparameters:
    """How a student is trained.

    Parameters
    ----------
    hidden : tuple of int
        Widths of the MLP's hidden layers; ``()`` gives a linear softmax model.
    dropout : float
        Dropout after each hidden layer, in ``[0, 1)``.
    lr, weight_decay : float
        AdamW settings.
    epochs : int
        Maximum passes over the training rows.
    batch_size : int
    confidence_weighting : bool
        Weight each row by the confidence of its posterior (see :func:`row_confidence`).
    covered_only : bool
        Train only on rows with at least one program vote; the caller selects those rows.
    patience : int
        Early stopping: epochs without a better validation accuracy before training stops.
    device : str, optional
        ``None`` uses CUDA when present, else the CPU.
    """

    hidden: tuple[int, ...] = (256,)
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 30
    batch_size: int = 128
    confidence_weighting: bool = True
    covered_only: bool = True
    patience: int = 5
    device: str | None = None

    def __post_init__(self) -> None:
        # JSON brings tuples back as lists.
        object.__setattr__(self, "hidden", tuple(int(width) for width in self.hidden))
        problems = []
        if any(width < 1 for width in self.hidden):
            problems.append(f"hidden widths must be >= 1, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise InputError("invalid StudentHyperparameters: " + "; ".join(problems))


def row_confidence(posterior: np.ndarray) -> np.ndarray:
    """One minus the normalised entropy of each posterior row: 1 for one-hot, 0 for uniform.

    Examples
    --------
    >>> row_confidence(np.array([[1.0, 0.0], [0.5, 0.5]])).round(6).tolist()
    [1.0, 0.0]
    """
    posterior = np.asarray(posterior, dtype=np.float64)
    n_classes = posterior.shape[1]
    if n_classes < 2:
        return np.ones(posterior.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(posterior > 0, posterior * np.log(posterior), 0.0).sum(axis=1)
    confidence = np.clip(1.0 - entropy / np.log(n_classes), 0.0, 1.0)
    # Rounding leaves ~1e-16 on uniform rows; call that what it is.
    confidence[confidence < 1e-9] = 0.0
    return confidence


def _is_sparse(X: Any) -> bool:
    return scipy.sparse.issparse(X)


def _check_X(X: Any, name: str = "X") -> Any:
    if _is_sparse(X):
        X = X.tocsr().astype(np.float32)
    else:
        X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise InputError(f"{name} must be 2-D (n_rows, n_features), got shape {X.shape}")
    if not np.isfinite(X.data if _is_sparse(X) else X).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return X


def _check_n_features(X: Any, n_features: int, name: str = "X") -> None:
    if X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features, but the student was fitted with {n_features}")


def _check_fit_inputs(
    X: Any, posterior: Any, weights: Any, X_valid: Any, y_valid: Any
) -> tuple[Any, np.ndarray, np.ndarray, Any, np.ndarray | None]:
    X = _check_X(X)
    posterior = np.asarray(posterior, dtype=np.float64)
    if posterior.ndim != 2 or posterior.shape[1] < 2:
        raise InputError(f"posterior must be 2-D (n_rows, n_classes) with n_classes >= 2, got shape {posterior.shape}")
    if posterior.shape[0] != X.shape[0]:
        raise InputError(
            f"X and posterior must have the same rows, but X has {X.shape[0]} and posterior {posterior.shape[0]}"
        )
    if X.shape[0] == 0:
        raise InputError("the student needs at least one training row, got none")
    if not np.isfinite(posterior).all() or (posterior < 0).any():
        raise InputError("posterior must hold finite, non-negative probabilities")
    totals = posterior.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise InputError(f"{int((totals <= 0).sum())} posterior rows sum to 0; expected probability rows")
    posterior = posterior / totals
    if weights is None:
        weights = np.ones(X.shape[0])
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (X.shape[0],) or not np.isfinite(weights).all() or (weights < 0).any():
            raise InputError(
                f"weights must be {X.shape[0]} finite non-negative numbers, got shape {weights.shape}"
            )
    if (X_valid is None) != (y_valid is None):
        raise InputError("pass both X_valid and y_valid for early stopping, or neither")
    if X_valid is not None:
        X_valid = _check_X(X_valid, "X_valid")
        _check_n_features(X_valid, X.shape[1], "X_valid")
        y_valid = _check_valid_targets(y_valid, X_valid.shape[0], posterior.shape[1])
    return X, posterior, weights, X_valid, y_valid


def _check_valid_targets(y_valid: Any, n_rows: int, n_classes: int) -> np.ndarray:
    """Validation targets: class indices ``(n_rows,)`` or soft labels ``(n_rows, n_classes)``."""
    y_valid = np.asarray(y_valid)
    if y_valid.ndim == 2:
        if y_valid.shape != (n_rows, n_classes):
            raise InputError(
                f"soft y_valid must have shape ({n_rows}, {n_classes}), one probability row per X_valid row, "
                f"got {y_valid.shape}"
            )
        y_valid = y_valid.astype(np.float64)
        if not np.isfinite(y_valid).all() or (y_valid < 0).any() or (y_valid.sum(axis=1) <= 0).any():
            raise InputError("soft y_valid must hold finite, non-negative rows with a positive sum")
        return y_valid / y_valid.sum(axis=1, keepdims=True)
    if y_valid.shape != (n_rows,):
        raise InputError(f"y_valid must have one label per X_valid row ({n_rows}), got shape {y_valid.shape}")
    if y_valid.size and (y_valid.min() < 0 or y_valid.max() >= n_classes):
        raise InputError(f"y_valid must hold class indices in [0, {n_classes - 1}]")
    return y_valid


def validation_score(proba: np.ndarray, y_valid: np.ndarray) -> tuple[str, float]:
    """How well ``proba`` fits the validation targets; higher is better.

    Hard labels give ``("valid_accuracy", accuracy)``. Soft labels (pseudolabels of held-out
    training rows, so that no gold label is spent on a student's own settings) give
    ``("valid_agreement", share)``: how often the most probable class is the pseudolabel's.
    Agreement, not cross-entropy: a soft label model's posterior would reward a student that
    is as unsure as it is, and so the most regularised one.

    Examples
    --------
    >>> validation_score(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    ('valid_accuracy', 0.5)
    >>> validation_score(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.7, 0.3]]))
    ('valid_agreement', 0.5)
    """
    soft = np.ndim(y_valid) == 2
    key = "valid_agreement" if soft else "valid_accuracy"
    if len(y_valid) == 0:
        return key, 0.0
    target = y_valid.argmax(axis=1) if soft else y_valid
    return key, float((proba.argmax(axis=1) == target).mean())


def _training_weights(posterior: np.ndarray, weights: np.ndarray, confidence_weighting: bool) -> np.ndarray:
    if confidence_weighting:
        weights = weights * row_confidence(posterior)
    total = weights.sum()
    if total <= 0:
        raise InputError(
            "every training row has weight 0 (uniform posteriors under confidence weighting, "
            "or zero weights); there is nothing to learn from"
        )
    # Mean 1, so a batch loss is on the scale of an unweighted one and lr keeps its meaning.
    return weights * (len(weights) / total)


def _check_fitted(student: Any) -> None:
    if not hasattr(student, "n_classes_"):
        raise InputError(f"this {type(student).__name__} is not fitted yet; call fit(X, posterior) first")


def _describe(student: Any) -> dict[str, Any]:
    return {
        "kind": student.kind,
        "config": asdict(student.config),
        "seed": student.seed,
        "n_features_in": student.n_features_in_,
        "n_classes": student.n_classes_,
        "best_epoch": student.best_epoch_,
        "history": student.history_,
    }


def _read_meta(storage: Storage, parts: tuple[str, ...], kind: str) -> dict[str, Any]:
    meta = storage.read_json(*parts, _CONFIG_FILE)
    if meta.get("kind") != kind:
        raise StorageError(f"{storage.uri(*parts)} holds a {meta.get('kind')!r} student, expected {kind!r}")
    return meta


def _restore_fitted(student: Any, meta: dict[str, Any]) -> None:
    student.n_features_in_ = meta["n_features_in"]
    student.n_classes_ = meta["n_classes"]
    student.history_ = meta["history"]
    student.best_epoch_ = meta["best_epoch"]
