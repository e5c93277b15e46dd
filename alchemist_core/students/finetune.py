"""The fine-tuned encoder student: reads the texts and fine-tunes the sentence encoder end to end with a linear head."""

from __future__ import annotations

import io
import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from alchemist_core.errors import InputError
from alchemist_core.students.features import select_device

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage
from alchemist_core.students.base import (
    _CONFIG_FILE,
    StudentHyperparameters,
    _check_fit_inputs,
    _is_sparse,
    _read_meta,
    _training_weights,
    validation_score,
)

logger = logging.getLogger(__name__)


FINETUNE_CONFIG = StudentHyperparameters(hidden=(), lr=3e-5, epochs=3, batch_size=32, patience=1)


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
    config : StudentHyperparameters
        Uses ``lr``, ``weight_decay``, ``epochs``, ``batch_size``, ``patience``,
        ``confidence_weighting`` and ``device``; ``hidden`` does not apply (the head is linear).
        :data:`FINETUNE_CONFIG` holds sensible values.
    seed : int
        Seeds the head, the shuffling and the encoder's dropout (inside a forked RNG state, so
        the global generators are left as they were).
    encoder : str
        ``"minilm"`` or the path of a local sentence-transformers folder; a fresh copy is
        loaded, the shared frozen encoder of :mod:`alchemist_core.students.features` is never touched.
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
        config: StudentHyperparameters = FINETUNE_CONFIG,
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

        from alchemist_core.students.features import _encoder_path

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
            StudentHyperparameters(**meta["config"]), seed=meta["seed"], encoder=meta["encoder"], max_seq_length=meta["max_seq_length"]
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
