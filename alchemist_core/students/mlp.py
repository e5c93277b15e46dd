"""The MLP student: a torch MLP trained with soft cross-entropy on feature matrices, on the GPU when present."""

from __future__ import annotations

import copy
import io
import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from alchemist_core.students.features import select_device

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage
from alchemist_core.students.base import (
    _CONFIG_FILE,
    _PREDICT_BATCH,
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

logger = logging.getLogger(__name__)


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
    # A copy: a read-only block (memory-mapped, or from Arrow) would make torch warn on every call.
    return torch.as_tensor(np.array(block, dtype=np.float32, order="C", copy=True), device=device)


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
    config : StudentHyperparameters
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
    >>> student = MLPStudent(StudentHyperparameters(hidden=(8,), lr=0.05, epochs=50, device="cpu")).fit(X, posterior)
    >>> student.predict(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
    [0, 1]
    """

    kind = "mlp"

    def __init__(self, config: StudentHyperparameters = StudentHyperparameters(), *, seed: int = 0):
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
        student = cls(StudentHyperparameters(**meta["config"]), seed=meta["seed"])
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
