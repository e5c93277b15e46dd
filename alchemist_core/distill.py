"""The student: a small model distilled from the label model's posterior.

Both students follow one contract: ``fit(X, posterior)`` on soft labels, then
``predict_proba(X)`` and ``predict(X)`` on any rows, ``save(storage, *parts)`` and
``load(storage, *parts)``. ``X`` is a dense array (sentence embeddings) or a scipy sparse
matrix (TF-IDF). Rows without any program vote carry no label information; the caller leaves
them out when ``StudentConfig.covered_only`` is set.

* :class:`MLPStudent`: a torch MLP trained with soft cross-entropy, on the GPU when present.
* :class:`LogisticStudent`: scikit-learn logistic regression on the same soft labels, a strong
  quick baseline on frozen embeddings.
* :class:`EncoderFineTuneStudent`: reads the texts themselves and fine-tunes the sentence encoder
  end to end with a linear head (the GPU distillation stage; it runs, slowly, on a CPU too).

The first two are registered in :data:`STUDENTS` (inputs are feature matrices), the third in
:data:`TEXT_STUDENTS` (inputs are sequences of texts); :func:`make_student` and
:func:`load_student` know both.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import pickle
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
import torch

from alchemist_core.errors import InputError, StorageError
from alchemist_core.features import select_device

if TYPE_CHECKING:
    from alchemist_core.storage import Storage

logger = logging.getLogger(__name__)

_CONFIG_FILE = "config.json"
_PREDICT_BATCH = 4096


@dataclass(frozen=True)
class StudentConfig:
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
            raise InputError("invalid StudentConfig: " + "; ".join(problems))


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


# -- input checks -----------------------------------------------------------------------------


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


# -- the MLP student ---------------------------------------------------------------------------


class _Network(torch.nn.Module):
    """Linear layers with ReLU; dropout masks come from an explicit generator."""

    def __init__(self, n_features: int, n_classes: int, hidden: tuple[int, ...], dropout: float):
        super().__init__()
        widths = [n_features, *hidden, n_classes]
        # skip_init: torch.nn.Linear would draw its initial weights from the global RNG.
        self.layers = torch.nn.ModuleList(
            torch.nn.utils.skip_init(torch.nn.Linear, a, b) for a, b in zip(widths[:-1], widths[1:])
        )
        self.dropout = dropout

    def reset_parameters(self, generator: torch.Generator) -> None:
        # Same scheme as torch.nn.Linear.reset_parameters, but drawn from ``generator``.
        with torch.no_grad():
            for layer in self.layers:
                torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.in_features)
                torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
            if self.training and self.dropout > 0 and generator is not None:
                # NB: torch.nn.Dropout draws from the global RNG; an explicit generator keeps
                # training reproducible without seeding global state.
                keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.dropout
                x = x * keep / (1.0 - self.dropout)
        return self.layers[-1](x)  # (batch, n_classes) logits


def _rows(X: Any, index: np.ndarray | slice, device: str | torch.device) -> torch.Tensor:
    block = X[index]
    if _is_sparse(block):
        block = block.toarray()
    return torch.as_tensor(np.ascontiguousarray(block, dtype=np.float32), device=device)


def _train_epoch(
    network: _Network,
    optimizer: torch.optim.Optimizer,
    X: Any,
    targets: torch.Tensor,
    row_weights: torch.Tensor,
    order: np.ndarray,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """One pass over the rows in ``order``; returns the mean weighted soft cross-entropy."""
    device = next(network.parameters()).device
    network.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        logits = network(_rows(X, batch, device), generator)  # (batch, n_classes)
        q = targets[batch].to(device)
        w = row_weights[batch].to(device)
        loss = (w * -(q * torch.log_softmax(logits, dim=1)).sum(dim=1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(order)


class MLPStudent:
    """A torch MLP distilled from soft labels with a weighted soft cross-entropy.

    Parameters
    ----------
    config : StudentConfig
    seed : int
        Seeds weight initialisation, shuffling and dropout through ``torch.Generator`` objects,
        so two fits with one seed on the CPU give identical models; global RNGs are untouched.

    Attributes
    ----------
    n_features_in_, n_classes_ : int
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (weighted soft cross-entropy), ``seconds`` and, with a
        validation set, ``valid_accuracy``.
    best_epoch_ : int
        The epoch whose weights were kept (the last one without a validation set).
    device_ : str
    network_ : torch.nn.Module

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0]] * 20)
    >>> posterior = np.array([[0.9, 0.1], [0.2, 0.8]] * 20)
    >>> student = MLPStudent(StudentConfig(hidden=(8,), lr=0.05, epochs=50, device="cpu")).fit(X, posterior)
    >>> student.predict(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
    [0, 1]
    """

    kind = "mlp"

    def __init__(self, config: StudentConfig = StudentConfig(), *, seed: int = 0):
        self.config = config
        self.seed = seed

    def fit(
        self,
        X: Any,
        posterior: Any,
        *,
        weights: Any = None,
        X_valid: Any = None,
        y_valid: Any = None,
    ) -> "MLPStudent":
        """Train on ``posterior`` rows, early-stopping on ``(X_valid, y_valid)`` when given.

        Parameters
        ----------
        X : array or sparse matrix, shape (n_rows, n_features)
        posterior : array, shape (n_rows, n_classes)
            Soft labels; rows are renormalised to sum to 1.
        weights : array, shape (n_rows,), optional
            Extra per-row weights, multiplied with the confidence weights.
        X_valid, y_valid : optional
            A labeled validation split (never the test split). Training keeps the weights of
            the epoch with the best validation accuracy and stops after ``patience`` epochs
            without improvement. Without them it runs ``epochs`` epochs.

        Returns
        -------
        MLPStudent
            ``self``.

        Raises
        ------
        InputError
            On inconsistent shapes or non-probability posteriors.
        """
        config = self.config
        X, posterior, weights, X_valid, y_valid = _check_fit_inputs(X, posterior, weights, X_valid, y_valid)
        weights = _training_weights(posterior, weights, config.confidence_weighting)
        n_rows, n_features = X.shape
        n_classes = posterior.shape[1]
        device = select_device(config.device)

        init_generator = torch.Generator().manual_seed(self.seed)
        network = _Network(n_features, n_classes, config.hidden, config.dropout)
        network.reset_parameters(init_generator)
        network.to(device)
        dropout_generator = torch.Generator(device=device).manual_seed(self.seed + 1)
        shuffle_generator = torch.Generator().manual_seed(self.seed + 2)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        targets = torch.as_tensor(posterior, dtype=torch.float32)
        row_weights = torch.as_tensor(weights, dtype=torch.float32)

        self.network_ = network
        self.device_ = device
        self.n_features_in_ = n_features
        self.n_classes_ = n_classes
        self.history_: list[dict[str, float]] = []
        best_accuracy, best_state, best_epoch, stale = -np.inf, None, config.epochs, 0
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            order = torch.randperm(n_rows, generator=shuffle_generator).numpy()
            loss = _train_epoch(
                network, optimizer, X, targets, row_weights, order, config.batch_size, dropout_generator
            )
            record = {"epoch": epoch, "loss": loss}
            if X_valid is not None:
                key, accuracy = validation_score(self.predict_proba(X_valid), y_valid)
                record[key] = accuracy
                if accuracy > best_accuracy:
                    best_accuracy, best_epoch, stale = accuracy, epoch, 0
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    stale += 1
            record["seconds"] = time.perf_counter() - started
            self.history_.append(record)
            logger.debug("student epoch %s", record)
            if X_valid is not None and stale >= config.patience:
                logger.info(
                    "early stop after epoch %d; best valid accuracy %.4f at epoch %d", epoch, best_accuracy, best_epoch
                )
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        self.best_epoch_ = best_epoch if X_valid is not None else len(self.history_)
        network.eval()
        logger.info(
            "trained MLP student on %d rows x %d features, %d classes, %d epochs on %s",
            n_rows, n_features, n_classes, len(self.history_), device,
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``float64`` of shape ``(n_rows, n_classes)``."""
        _check_fitted(self)
        X = _check_X(X)
        _check_n_features(X, self.n_features_in_)
        self.network_.eval()
        out = np.empty((X.shape[0], self.n_classes_), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, X.shape[0], _PREDICT_BATCH):
                rows = slice(start, start + _PREDICT_BATCH)
                logits = self.network_(_rows(X, rows, self.device_))
                out[rows] = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return out

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        return self.predict_proba(X).argmax(axis=1)

    def save(self, storage: Storage, *parts: str) -> str:
        """Write ``config.json`` and ``weights.pt`` under ``parts``; returns the folder's URI."""
        _check_fitted(self)
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.network_.state_dict().items()}, buffer)
        storage.write_bytes(buffer.getvalue(), *parts, "weights.pt")
        storage.write_json(_describe(self), *parts, _CONFIG_FILE)
        return storage.uri(*parts)

    @classmethod
    def load(cls, storage: Storage, *parts: str, device: str | None = None) -> "MLPStudent":
        """A student saved by :meth:`save`, on ``device`` (default: the saved config's choice)."""
        meta = _read_meta(storage, parts, cls.kind)
        student = cls(StudentConfig(**meta["config"]), seed=meta["seed"])
        data = storage.read_bytes(*parts, "weights.pt")
        target = select_device(device if device is not None else student.config.device)
        state = torch.load(io.BytesIO(data), map_location=target, weights_only=True)
        network = _Network(meta["n_features_in"], meta["n_classes"], student.config.hidden, student.config.dropout)
        network.load_state_dict(state)
        network.to(target).eval()
        student.network_ = network
        student.device_ = target
        _restore_fitted(student, meta)
        return student


# -- the logistic regression student -----------------------------------------------------------


class LogisticStudent:
    """scikit-learn logistic regression fitted on soft labels.

    Each row is repeated once per class with posterior mass above ``1e-3``, weighted by that
    mass (times the confidence and user weights): the weighted log-loss of the copies equals
    the soft cross-entropy of the row.

    Parameters
    ----------
    config : StudentConfig
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

    def __init__(self, config: StudentConfig = StudentConfig(), *, seed: int = 0, C: float = 1.0):
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
        student = cls(StudentConfig(**meta["config"]), seed=meta["seed"], C=meta["C"])
        student.C_ = meta["C"]
        student.model_ = pickle.loads(storage.read_bytes(*parts, "model.pkl"))
        student.device_ = "cpu"
        _restore_fitted(student, meta)
        return student


# -- saving and choosing students --------------------------------------------------------------


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


# -- the fine-tuned encoder student ------------------------------------------------------------


FINETUNE_CONFIG = StudentConfig(hidden=(), lr=3e-5, epochs=3, batch_size=32, patience=1)
"""Defaults for :class:`EncoderFineTuneStudent`: few epochs, a small learning rate for the encoder."""

_HEAD_LR = 1e-3
_PROBE_STEPS = 300
_PROBE_LR = 0.05


def _check_texts(texts: Any, name: str = "X") -> list[str]:
    if isinstance(texts, str) or _is_sparse(texts) or (isinstance(texts, np.ndarray) and texts.dtype.kind == "f"):
        raise InputError(f"{name} must be a sequence of texts for the finetune student, got {type(texts).__name__}")
    return ["" if text is None else str(text) for text in texts]


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (weights * -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)).mean()


class EncoderFineTuneStudent:
    """A sentence encoder fine-tuned end to end, with a linear head, on soft labels.

    Training has two phases. A linear probe first: the head is fitted on the frozen encoder's
    embeddings of the training texts (so fine-tuning starts from a sensible classifier rather
    than from random logits that would push the encoder around). Then the encoder and the head
    train together for ``config.epochs`` epochs with a weighted soft cross-entropy, the encoder
    at ``config.lr`` and the head at ``1e-3`` (AdamW). With a validation split the weights of
    the best epoch (validation accuracy) are kept.

    Parameters
    ----------
    config : StudentConfig
        Uses ``lr``, ``weight_decay``, ``epochs``, ``batch_size``, ``patience``,
        ``confidence_weighting`` and ``device``; ``hidden`` does not apply (the head is linear).
        :data:`FINETUNE_CONFIG` holds sensible values.
    seed : int
        Seeds the head, the shuffling and the encoder's dropout (inside a forked RNG state, so
        the global generators are left as they were).
    encoder : str
        ``"minilm"`` or the path of a local sentence-transformers folder; a fresh copy is
        loaded, the shared frozen encoder of :mod:`alchemist_core.features` is never touched.
    max_seq_length : int
        Texts are truncated to this many tokens.

    Attributes
    ----------
    n_classes_ : int
    history_ : list of dict
        Per epoch: ``loss``, ``seconds`` and, with a validation split, ``valid_accuracy``.
    best_epoch_ : int
    device_ : str
    model_ : sentence_transformers.SentenceTransformer
    head_ : torch.nn.Linear
    """

    kind = "finetune"

    def __init__(
        self,
        config: StudentConfig = FINETUNE_CONFIG,
        *,
        seed: int = 0,
        encoder: str = "minilm",
        max_seq_length: int = 128,
    ):
        self.config = config
        self.seed = seed
        self.encoder = encoder
        self.max_seq_length = max_seq_length

    def _load_encoder(self, device: str) -> Any:
        import os

        from alchemist_core.features import _encoder_path

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(_encoder_path(self.encoder)), device=device)
        model.max_seq_length = self.max_seq_length
        return model

    def _embed(self, texts: list[str], *, batch_size: int = 64) -> torch.Tensor:
        """Embeddings of ``texts`` under the current encoder weights, without gradients, on the device."""
        self.model_.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = torch.empty((len(texts), self.model_.get_embedding_dimension()), device=self.device_)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                features = self._features([texts[i] for i in rows])
                out[torch.as_tensor(rows, device=self.device_)] = self.model_(features)["sentence_embedding"]
        return out.clone()

    def _features(self, texts: list[str]) -> dict[str, Any]:
        features = self.model_.preprocess(texts)
        return {k: v.to(self.device_) if isinstance(v, torch.Tensor) else v for k, v in features.items()}

    def fit(
        self,
        X: Any,
        posterior: Any,
        *,
        weights: Any = None,
        X_valid: Any = None,
        y_valid: Any = None,
    ) -> "EncoderFineTuneStudent":
        """Fine-tune on texts ``X`` with soft labels ``posterior``; same parameters as :meth:`MLPStudent.fit`.

        ``X`` and ``X_valid`` are sequences of texts instead of feature matrices.
        """
        config = self.config
        texts = _check_texts(X)
        valid_texts = None if X_valid is None else _check_texts(X_valid, "X_valid")
        # The shared checks want a matrix: a (n, 1) stand-in carries the row count.
        _, posterior, weights, _, y_valid = _check_fit_inputs(
            np.zeros((len(texts), 1)), posterior, weights,
            None if valid_texts is None else np.zeros((len(valid_texts), 1)), y_valid,
        )
        weights = _training_weights(posterior, weights, config.confidence_weighting)
        n_classes = posterior.shape[1]
        device = select_device(config.device)
        self.device_ = device
        self.n_classes_ = n_classes
        self.model_ = self._load_encoder(device)
        dimension = self.model_.get_embedding_dimension()
        init_generator = torch.Generator().manual_seed(self.seed)
        head = torch.nn.utils.skip_init(torch.nn.Linear, dimension, n_classes)
        with torch.no_grad():
            torch.nn.init.normal_(head.weight, std=0.01, generator=init_generator)
            head.bias.zero_()
        self.head_ = head.to(device)
        targets = torch.as_tensor(posterior, dtype=torch.float32, device=device)
        row_weights = torch.as_tensor(weights, dtype=torch.float32, device=device)

        started = time.perf_counter()
        self._linear_probe(self._embed(texts), targets, row_weights)
        logger.info("finetune student: linear probe on %d texts in %.1f s", len(texts), time.perf_counter() - started)

        devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
        shuffle_generator = torch.Generator().manual_seed(self.seed + 2)
        optimizer = torch.optim.AdamW(
            [
                {"params": self.model_.parameters(), "lr": config.lr},
                {"params": self.head_.parameters(), "lr": _HEAD_LR},
            ],
            weight_decay=config.weight_decay,
        )
        self.history_: list[dict[str, float]] = []
        best_accuracy, best_state, best_epoch, stale = -np.inf, None, config.epochs, 0
        if valid_texts is not None:
            best_accuracy = self._valid_accuracy(valid_texts, y_valid)
            best_state, best_epoch = self._state(), 0
        # NB: the encoder's dropout draws from the global torch RNG; forking it keeps training
        # reproducible for a seed without changing the caller's random state.
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed + 1)
            for epoch in range(1, config.epochs + 1):
                epoch_started = time.perf_counter()
                order = torch.randperm(len(texts), generator=shuffle_generator).numpy()
                loss = self._train_epoch(texts, targets, row_weights, order, optimizer)
                record: dict[str, float] = {"epoch": epoch, "loss": loss}
                if valid_texts is not None:
                    accuracy = self._valid_accuracy(valid_texts, y_valid)
                    record["valid_agreement" if np.ndim(y_valid) == 2 else "valid_accuracy"] = accuracy
                    if accuracy > best_accuracy:
                        best_accuracy, best_epoch, stale, best_state = accuracy, epoch, 0, self._state()
                    else:
                        stale += 1
                record["seconds"] = time.perf_counter() - epoch_started
                self.history_.append(record)
                logger.info("finetune student epoch %s", record)
                if valid_texts is not None and stale >= config.patience:
                    break
        if best_state is not None:
            self._load_state(best_state)
        self.best_epoch_ = best_epoch if valid_texts is not None else len(self.history_)
        self.model_.eval()
        return self

    def _linear_probe(self, embeddings: torch.Tensor, targets: torch.Tensor, row_weights: torch.Tensor) -> None:
        optimizer = torch.optim.Adam(self.head_.parameters(), lr=_PROBE_LR)
        for _ in range(_PROBE_STEPS):
            loss = _soft_cross_entropy(self.head_(embeddings), targets, row_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def _train_epoch(
        self, texts: list[str], targets: torch.Tensor, row_weights: torch.Tensor, order: np.ndarray, optimizer: Any
    ) -> float:
        self.model_.train()
        total = 0.0
        for start in range(0, len(order), self.config.batch_size):
            batch = order[start : start + self.config.batch_size]
            embedding = self.model_(self._features([texts[i] for i in batch]))["sentence_embedding"]
            index = torch.as_tensor(batch, device=self.device_)
            loss = _soft_cross_entropy(self.head_(embedding), targets[index], row_weights[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        return total / len(order)

    def _valid_accuracy(self, texts: list[str], y: np.ndarray) -> float:
        return validation_score(self.predict_proba(texts), y)[1]

    def _state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            "encoder": {k: v.detach().to("cpu", copy=True) for k, v in self.model_.state_dict().items()},
            "head": {k: v.detach().to("cpu", copy=True) for k, v in self.head_.state_dict().items()},
        }

    def _load_state(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.model_.load_state_dict(state["encoder"])
        self.head_.load_state_dict(state["head"])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the texts ``X``, ``float64`` of shape ``(n_texts, n_classes)``."""
        if not hasattr(self, "head_"):
            raise InputError(f"this {type(self).__name__} is not fitted yet; call fit(texts, posterior) first")
        texts = _check_texts(X)
        if not texts:
            return np.zeros((0, self.n_classes_))
        with torch.inference_mode():
            logits = self.head_(self._embed(texts))
            return torch.softmax(logits.double(), dim=1).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each text."""
        return self.predict_proba(X).argmax(axis=1)

    def save(self, storage: Storage, *parts: str) -> str:
        """Write ``config.json`` and ``weights.pt`` (encoder and head) under ``parts``; returns the folder's URI."""
        if not hasattr(self, "head_"):
            raise InputError(f"this {type(self).__name__} is not fitted yet; call fit(texts, posterior) first")
        buffer = io.BytesIO()
        torch.save(self._state(), buffer)
        storage.write_bytes(buffer.getvalue(), *parts, "weights.pt")
        storage.write_json(
            {
                "kind": self.kind,
                "config": asdict(self.config),
                "seed": self.seed,
                "encoder": self.encoder,
                "max_seq_length": self.max_seq_length,
                "n_classes": self.n_classes_,
                "best_epoch": self.best_epoch_,
                "history": self.history_,
            },
            *parts,
            _CONFIG_FILE,
        )
        return storage.uri(*parts)

    @classmethod
    def load(cls, storage: Storage, *parts: str, device: str | None = None) -> "EncoderFineTuneStudent":
        """A student saved by :meth:`save`, on ``device`` (default: the saved config's choice)."""
        meta = _read_meta(storage, parts, cls.kind)
        student = cls(
            StudentConfig(**meta["config"]), seed=meta["seed"], encoder=meta["encoder"], max_seq_length=meta["max_seq_length"]
        )
        target = select_device(device if device is not None else student.config.device)
        state = torch.load(io.BytesIO(storage.read_bytes(*parts, "weights.pt")), map_location="cpu", weights_only=True)
        student.device_ = target
        student.n_classes_ = meta["n_classes"]
        student.model_ = student._load_encoder(target)
        head = torch.nn.Linear(student.model_.get_embedding_dimension(), meta["n_classes"])
        student.head_ = head.to(target)
        student._load_state(state)
        student.model_.eval()
        student.history_ = meta["history"]
        student.best_epoch_ = meta["best_epoch"]
        return student


STUDENTS: dict[str, type] = {"mlp": MLPStudent, "logreg": LogisticStudent}
"""Students that read a feature matrix (embeddings or TF-IDF)."""

TEXT_STUDENTS: dict[str, type] = {"finetune": EncoderFineTuneStudent}
"""Students that read the texts themselves."""

_ALL_STUDENTS: dict[str, type] = {**STUDENTS, **TEXT_STUDENTS}

Student = MLPStudent | LogisticStudent | EncoderFineTuneStudent


LOGISTIC_C_GRID = (0.1, 1.0, 10.0, 100.0)
"""Regularisation strengths a :class:`LogisticStudent` may choose among on a validation split."""


def make_student(name: str, config: StudentConfig | None = None, seed: int = 0, **params: Any) -> Student:
    """A student by name: ``"mlp"``, ``"logreg"`` or ``"finetune"``.

    ``config=None`` gives the kind's defaults (:data:`FINETUNE_CONFIG` for ``"finetune"``,
    ``StudentConfig()`` otherwise); ``params`` go to the student's constructor (e.g. ``C`` for
    ``"logreg"``, ``encoder`` for ``"finetune"``).

    Examples
    --------
    >>> type(make_student("logreg")).__name__
    'LogisticStudent'
    >>> make_student("finetune").config.epochs
    3
    """
    if name not in _ALL_STUDENTS:
        raise InputError(f"unknown student {name!r}; expected one of {sorted(_ALL_STUDENTS)}")
    if config is None:
        config = FINETUNE_CONFIG if name in TEXT_STUDENTS else StudentConfig()
    return _ALL_STUDENTS[name](config, seed=seed, **params)


def load_student(storage: Storage, *parts: str, device: str | None = None) -> Student:
    """Whichever student was saved under ``parts`` (read from its ``config.json``)."""
    kind = storage.read_json(*parts, _CONFIG_FILE).get("kind")
    if kind not in _ALL_STUDENTS:
        raise StorageError(
            f"{storage.uri(*parts)} holds an unknown student kind {kind!r}; expected one of {sorted(_ALL_STUDENTS)}"
        )
    return _ALL_STUDENTS[kind].load(storage, *parts, device=device)
