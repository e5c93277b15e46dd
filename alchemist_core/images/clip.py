"""CLIP features for images: embeddings, concept scores and the zero-shot baseline.

A local open_clip model embeds images and text prompts; everything else is arithmetic on
those embeddings:

* **image embeddings**, L2-normalised, are the student's features;
* **concept scores**: for each concept, a softmax over its class descriptions of the
  image's cosine similarity to each description's prompt, at CLIP's logit scale (its
  learned temperature, at most 100). So every score lies in ``[0, 1]``, the scores of one
  concept sum to 1 over the classes, and ``x["wing_shape:waterbird"]`` near 1 means the
  image's wing shape looks like the waterbird description far more than the others.
  A plain cosine would be a poor program input: CLIP's cosines sit in a narrow band
  (about 0.15-0.35) that shifts from model to model;
* **zero-shot** class probabilities from the prompts "a photo of a <class>", the paper's
  CLIP baseline.

Weights
-------
:class:`ClipModelSpec` names a model and where its weights come from: an open_clip
``pretrained`` tag (``"openai"``, ``"laion2b_s34b_b79k"``, ...) found in the local Hugging Face
cache, a local checkpoint file, or nothing (seeded random weights, for tests and the demo).
With ``HF_HUB_OFFLINE`` set or unset, nothing is downloaded: a tag whose weights are not in
the cache is an :class:`InputError` at once, saying how to fetch them. Only
``HF_HUB_OFFLINE=0`` lets open_clip download missing weights.

:data:`TINY_MODEL` (``"alchemist-tiny"``) is a 3.4 M-parameter CLIP architecture on 64-pixel
images, registered with open_clip on first use; with random weights its features mean
nothing, but every stage runs in milliseconds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alchemist_core.digest import combine
from alchemist_core.errors import InputError

logger = logging.getLogger(__name__)

TINY_MODEL = "alchemist-tiny"
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
MAX_LOGIT_SCALE = 100.0
ZERO_SHOT_TEMPLATE = "a photo of a {class_name}"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")

_HF_WEIGHTS = "open_clip_pytorch_model.bin"
_FALSE = {"0", "false", "no", "off"}

# (identity, device) -> ClipEncoder: loading a model takes seconds, so each process loads once.
_ENCODERS: dict[tuple[str, str], "ClipEncoder"] = {}
_ENCODERS_LOCK = threading.Lock()


def register_tiny_model() -> None:
    """Register :data:`TINY_MODEL` with open_clip (idempotent)."""
    import open_clip

    open_clip.factory._MODEL_CONFIGS.setdefault(TINY_MODEL, TINY_CONFIG)


@dataclass(frozen=True)
class ClipModelSpec:
    """Which CLIP model to load, and from where.

    Parameters
    ----------
    model : str
        An open_clip architecture name (``"ViT-B-32"``, ``"ViT-L-14"``, :data:`TINY_MODEL`).
    pretrained : str or None
        An open_clip pretrained tag (see ``open_clip.list_pretrained_tags_by_model``), the
        path of a checkpoint file (a ``state_dict`` saved with ``torch.save``, or an
        open_clip/OpenAI checkpoint), or ``None`` for seeded random weights.
    cache_dir : str or None
        Where tagged weights are looked for (the Hugging Face hub cache by default).
    seed : int
        Seeds the random weights when ``pretrained`` is ``None``; ignored otherwise.

    Examples
    --------
    >>> ClipModelSpec(TINY_MODEL, seed=3).identity
    'alchemist-tiny:random:3'
    """

    model: str = "ViT-B-32"
    pretrained: str | None = None
    cache_dir: str | None = None
    seed: int = 0

    @property
    def is_checkpoint(self) -> bool:
        """Whether ``pretrained`` names a file (an existing one, or a path-like name) rather than a tag."""
        if self.pretrained is None:
            return False
        name = self.pretrained
        return Path(name).expanduser().is_file() or os.sep in name or name.endswith(CHECKPOINT_SUFFIXES)

    @property
    def identity(self) -> str:
        """What determines the model's outputs: the key of feature caches.

        A checkpoint counts by the sha256 of its bytes, so a moved file keeps its cache and
        an overwritten one does not.
        """
        if self.pretrained is None:
            return f"{self.model}:random:{self.seed}"
        if self.is_checkpoint:
            return f"{self.model}:sha256:{_file_digest(_checkpoint_path(self.pretrained))}"
        return f"{self.model}:{self.pretrained}"


def _checkpoint_path(pretrained: str) -> str:
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise InputError(
            f"expected a CLIP checkpoint file at {pretrained}, found none; give an existing file, "
            "or an open_clip pretrained tag such as 'openai'"
        )
    return str(path.resolve())


def _file_digest(path: str) -> str:
    # Not memoised by path and mtime: a checkpoint rewritten within one timestamp tick would
    # keep a stale identity. Hashing runs at about 1 GB/s, once per load.
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            hasher.update(block)
    return hasher.hexdigest()


def downloads_allowed() -> bool:
    """Whether missing tagged weights may be downloaded: only when ``HF_HUB_OFFLINE`` is set false."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _FALSE


def _cached_tag_file(model: str, tag: str, cache_dir: str | None) -> tuple[str | None, dict[str, Any], str]:
    """(local weights file or None, the tag's open_clip config, where it was looked for)."""
    import open_clip

    config = open_clip.get_pretrained_cfg(model, tag)
    if not config:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise InputError(
            f"{tag!r} is neither a checkpoint file nor a pretrained tag of {model!r}; "
            f"its tags are {tags or 'none'} (or give the path of a checkpoint file)"
        )
    if config.get("file"):
        return str(config["file"]), config, str(config["file"])
    if config.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(config["hf_hub"])
        filename = filename or _HF_WEIGHTS
        candidates = [filename]
        if filename == _HF_WEIGHTS:
            candidates.insert(0, "open_clip_model.safetensors")
        elif filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        for candidate in candidates:
            found = try_to_load_from_cache(repo_id, candidate, cache_dir=cache_dir)
            if isinstance(found, str):
                return found, config, f"{repo_id}/{filename}"
        return None, config, f"{repo_id}/{filename} in the Hugging Face cache ({cache_dir or _hub_cache()})"
    url = config.get("url", "")
    target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
    return (target if os.path.isfile(target) else None), config, target


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


class ClipEncoder:
    """An open_clip model ready to embed images and texts; see :func:`load_clip`.

    Attributes
    ----------
    spec : ClipModelSpec
    identity : str
    device : str
    model : open_clip.CLIP
    preprocess : callable
        PIL image -> tensor (3, size, size).
    tokenizer : callable
    logit_scale : float
        CLIP's learned temperature, capped at :data:`MAX_LOGIT_SCALE`.
    embedding_dim : int
    """

    def __init__(self, spec: ClipModelSpec, model: Any, preprocess: Any, tokenizer: Any, device: str, identity: str):
        self.spec = spec
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.identity = identity
        self.logit_scale = float(min(float(model.logit_scale.detach().exp()), MAX_LOGIT_SCALE))
        # Architectures name their output width differently; one tiny forward pass is exact.
        self.embedding_dim = int(self.encode_texts(["a"]).shape[1])

    def encode_images(self, images: Sequence[Any], *, batch_size: int = 64) -> np.ndarray:
        """L2-normalised embeddings of PIL images, ``float32`` of shape ``(n_images, embedding_dim)``."""
        import torch

        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        blocks = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = torch.stack([self.preprocess(image) for image in images[start : start + batch_size]])
                features = self.model.encode_image(batch.to(self.device))
                blocks.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy())
        if not blocks:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return np.concatenate(blocks).astype(np.float32, copy=False)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        """L2-normalised embeddings of text prompts, ``float32`` of shape ``(n_texts, embedding_dim)``."""
        import torch

        if isinstance(texts, str):
            raise InputError("expected a sequence of prompts, got a single str; wrap it in a list")
        blocks = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[start : start + batch_size])).to(self.device)
                features = self.model.encode_text(tokens)
                blocks.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy())
        return np.concatenate(blocks).astype(np.float32, copy=False)


def load_clip(spec: ClipModelSpec, *, device: str | None = None) -> ClipEncoder:
    """The :class:`ClipEncoder` for ``spec`` on ``device``, loaded once per process.

    Parameters
    ----------
    spec : ClipModelSpec
    device : str, optional
        ``"cpu"``, ``"cuda"``; ``None`` uses CUDA when present.

    Returns
    -------
    ClipEncoder

    Raises
    ------
    InputError
        When the model name is unknown, the checkpoint file is missing or does not fit the
        architecture, or a tag's weights are not in the local cache and downloads are off.
    """
    from alchemist_core.students.features import select_device

    device = select_device(device)
    identity = spec.identity
    key = (identity, device)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            started = time.perf_counter()
            _ENCODERS[key] = _build(spec, device, identity)
            logger.info("loaded CLIP %s on %s in %.1f s", identity[:60], device, time.perf_counter() - started)
        return _ENCODERS[key]


def _build(spec: ClipModelSpec, device: str, identity: str) -> ClipEncoder:
    # NB: before open_clip pulls in huggingface_hub, which reads the variable once at import;
    # a tag is resolved from the local cache below anyway, so this only guards stray lookups.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip
    import torch

    register_tiny_model()
    if spec.model not in open_clip.list_models():
        raise InputError(f"unknown CLIP model {spec.model!r}; expected one of open_clip's models, e.g. ViT-B-32, ViT-L-14")
    if spec.pretrained is None:
        if spec.model != TINY_MODEL:
            logger.warning("CLIP %s has random weights (no pretrained tag or checkpoint): its features mean nothing", spec.model)
        # Seeded without touching the caller's random state: the fork is restored on exit.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model, _, preprocess = _create(open_clip, spec.model, None, {})
    elif spec.is_checkpoint:
        model, _, preprocess = _create(open_clip, spec.model, _checkpoint_path(spec.pretrained), {})
    else:
        local, config, looked = _cached_tag_file(spec.model, spec.pretrained, spec.cache_dir)
        if local is None and not downloads_allowed():
            raise InputError(
                f"the weights of CLIP {spec.model} / {spec.pretrained} are not in the local cache (looked for {looked}) "
                "and downloads are off. Fetch them once on a machine with network access, e.g. "
                f"`HF_HUB_OFFLINE=0 python -c \"import open_clip; open_clip.create_model('{spec.model}', "
                f"pretrained='{spec.pretrained}')\"`, then copy the Hugging Face cache over; or give the path of a "
                "checkpoint file instead of a tag; or set HF_HUB_OFFLINE=0 to let Alchemist download them"
            )
        if local is None:
            model, _, preprocess = _create(open_clip, spec.model, spec.pretrained, {"cache_dir": spec.cache_dir})
        else:
            # The file replaces the tag, so the tag's settings are passed on explicitly.
            options = {
                "force_quick_gelu": bool(config.get("quick_gelu", False)),
                "image_mean": config.get("mean"),
                "image_std": config.get("std"),
                "image_interpolation": config.get("interpolation"),
                "image_resize_mode": config.get("resize_mode"),
            }
            model, _, preprocess = _create(open_clip, spec.model, local, options)
    model = model.to(device).eval()
    return ClipEncoder(spec, model, preprocess, open_clip.get_tokenizer(spec.model), device, identity)


def _create(open_clip: Any, model_name: str, pretrained: str | None, options: dict[str, Any]) -> tuple[Any, Any, Any]:
    try:
        return open_clip.create_model_and_transforms(model_name, pretrained=pretrained, **options)
    except (RuntimeError, pickle.UnpicklingError, ValueError, KeyError, OSError, EOFError) as error:
        # RuntimeError: a state_dict that does not fit the architecture, or a failed download;
        # the others: a file that is not a checkpoint at all.
        raise InputError(
            f"could not load CLIP {model_name} from {pretrained}: {type(error).__name__}: {str(error)[:500]}"
        ) from None


# -- scores ----------------------------------------------------------------------------------


def _softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    logits = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=axis, keepdims=True)


def concept_scores(
    image_embeddings: np.ndarray, prompt_embeddings: np.ndarray, n_classes: int, logit_scale: float
) -> np.ndarray:
    """Per-concept softmax over the class descriptions, at ``logit_scale``.

    Parameters
    ----------
    image_embeddings : array, shape (n_images, dim)
        L2-normalised.
    prompt_embeddings : array, shape (n_concepts * n_classes, dim)
        L2-normalised, concept by concept (the order of ``ConceptSet.prompts``).
    n_classes : int
    logit_scale : float

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(n_images, n_concepts * n_classes)`` in ``[0, 1]``, in the
        order of ``ConceptSet.score_names``; each concept's ``n_classes`` scores sum to 1.

    Examples
    --------
    >>> images = np.array([[1.0, 0.0]])
    >>> prompts = np.array([[1.0, 0.0], [0.0, 1.0]])  # one concept, two classes
    >>> concept_scores(images, prompts, 2, 100.0).round(3).tolist()
    [[1.0, 0.0]]
    """
    image_embeddings = np.asarray(image_embeddings, dtype=np.float64)
    prompt_embeddings = np.asarray(prompt_embeddings, dtype=np.float64)
    if prompt_embeddings.shape[0] % n_classes:
        raise InputError(
            f"expected n_concepts * {n_classes} prompt embeddings (one per class per concept), got {prompt_embeddings.shape[0]}"
        )
    if image_embeddings.shape[1:] != prompt_embeddings.shape[1:]:
        raise InputError(
            f"image and prompt embeddings differ in width: {image_embeddings.shape[1:]} vs {prompt_embeddings.shape[1:]}"
        )
    n_concepts = prompt_embeddings.shape[0] // n_classes
    logits = logit_scale * image_embeddings @ prompt_embeddings.T  # (n_images, n_concepts * n_classes)
    scores = _softmax(logits.reshape(len(image_embeddings), n_concepts, n_classes), axis=2)
    return scores.reshape(len(image_embeddings), -1).astype(np.float32)


def zero_shot_prompts(class_names: Sequence[str], template: str = ZERO_SHOT_TEMPLATE) -> list[str]:
    """The zero-shot prompt of each class; underscores in class names read as spaces.

    Examples
    --------
    >>> zero_shot_prompts(["land_bird", "waterbird"])
    ['a photo of a land bird', 'a photo of a waterbird']
    """
    return [template.format(class_name=name.replace("_", " ")) for name in class_names]


def zero_shot_proba(image_embeddings: np.ndarray, class_embeddings: np.ndarray, logit_scale: float) -> np.ndarray:
    """CLIP zero-shot class probabilities, ``float64`` of shape ``(n_images, n_classes)``."""
    logits = logit_scale * np.asarray(image_embeddings, dtype=np.float64) @ np.asarray(class_embeddings, dtype=np.float64).T
    return _softmax(logits, axis=1)


# -- cached image embeddings -------------------------------------------------------------------


def image_cache_key(identity: str, content_digest: str) -> str:
    """Cache key of one shard's image embeddings: the model identity and the images' content digest."""
    return combine("clip-image-embeddings", identity, "float32", content_digest)


def embed_images_with_cache(
    encoder: ClipEncoder, images_loader: Any, content_digest: str, cache: Any | None, *, batch_size: int = 64
) -> tuple[np.ndarray, bool]:
    """Image embeddings of one shard, from ``cache`` (an ``EmbeddingCache``) when present.

    Parameters
    ----------
    encoder : ClipEncoder
    images_loader : callable
        Returns the shard's PIL images; called only on a cache miss.
    content_digest : str
        Digest of the shard's images (e.g. the sha256 of a shard that holds their bytes).
    cache : EmbeddingCache or None
        Use ``dtype="float32"``: concept scores multiply rounding errors by the logit scale.
    batch_size : int

    Returns
    -------
    embeddings : numpy.ndarray
        ``float32`` of shape ``(n_images, embedding_dim)``; a miss returns what a later hit will.
    hit : bool
        Whether they came from the cache.
    """
    if cache is None:
        return encoder.encode_images(images_loader(), batch_size=batch_size), False
    key = image_cache_key(encoder.identity, content_digest)
    cached = cache.get(key)
    if cached is not None:
        logger.debug("image embedding cache hit (%s)", key[:12])
        return cached, True
    embeddings = encoder.encode_images(images_loader(), batch_size=batch_size)
    cache.put(key, embeddings)
    return cache.round_trip(embeddings), False
