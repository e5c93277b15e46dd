"""A seeded synthetic image dataset with a spurious cue: circles and squares on coloured backgrounds.

Each image shows one shape (class ``circle`` or ``square``) of a random colour, size,
position and, for squares, rotation, on a ``blue`` or ``yellow`` background with a little
noise. In the ``train`` split the background agrees with the class 95 % of the time (circles
on blue, squares on yellow), like Waterbirds' water and land; in ``valid`` and ``test`` the
background is independent of the class. A labeler that keys on the dominant colour does well
on ``train`` and badly on the minority groups of ``test`` (a square on blue); the groups are
the (class, background) pairs.

The task spec is shipped as ``alchemist_core/specs/shapes.yaml``; :data:`SHAPES_CONCEPTS` is
a hand-written concept file for it (what an LLM would be asked to name).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
import yaml

SHAPES_SPEC_NAME = "shapes"
SHAPES_CLASSES = ("circle", "square")
BACKGROUNDS = ("blue", "yellow")
SPLITS = ("train", "valid", "test")

SHAPES_CONCEPTS = {
    "subject": "shape",
    "concepts": [
        {"name": "outline", "descriptions": {"circle": "round and curved", "square": "straight-edged and angular"}},
        {"name": "corners", "descriptions": {"circle": "absent, with no corners at all", "square": "four sharp right angles"}},
        {"name": "sides", "descriptions": {"circle": "one smooth continuous curve", "square": "four straight equal sides"}},
    ],
}
"""A concept file for the shapes task (see :mod:`alchemist_core.images.concepts`)."""

_BACKGROUND_RGB = {"blue": (40, 90, 200), "yellow": (225, 200, 60)}
_SHAPE_RGB = ((200, 40, 40), (245, 245, 245), (30, 30, 30), (40, 160, 70), (140, 60, 170))
_MATCHING = {"circle": "blue", "square": "yellow"}


def make_shapes_dataset(
    root: str | Path,
    *,
    n_train: int = 200,
    n_valid: int = 60,
    n_test: int = 100,
    image_size: int = 64,
    spurious: float = 0.95,
    seed: int = 0,
) -> Path:
    """Write the shapes dataset under ``root``.

    Layout::

        root/images/<split>/<class>/<split>-<index>.png
        root/metadata.csv      path (relative to root), label, split, background
        root/concepts.yaml     SHAPES_CONCEPTS

    Parameters
    ----------
    root : str or Path
    n_train, n_valid, n_test : int
        Images per split; each split has about as many circles as squares.
    image_size : int
        Width and height in pixels.
    spurious : float
        Share of ``train`` images whose background matches their class.
    seed : int
        The same arguments give the same bytes.

    Returns
    -------
    Path
        ``root/metadata.csv``: ingest it with ``ingest_images(..., image_field="path",
        split_field="split", group_field="background")``.

    Examples
    --------
    >>> import tempfile
    >>> metadata = make_shapes_dataset(tempfile.mkdtemp(), n_train=4, n_valid=2, n_test=2)
    >>> metadata.read_text().splitlines()[0]
    'path,label,split,background'
    """
    from PIL import Image, ImageDraw

    if not 0.0 <= spurious <= 1.0:
        raise ValueError(f"spurious must be a share in [0, 1], got {spurious}")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for split, n_images in zip(SPLITS, (n_train, n_valid, n_test)):
        share = spurious if split == "train" else 0.5
        for index in range(n_images):
            class_name = SHAPES_CLASSES[index % 2]
            matching = rng.random() < share
            background = _MATCHING[class_name] if matching else _other(_MATCHING[class_name])
            image = Image.new("RGB", (image_size, image_size), _jitter(_BACKGROUND_RGB[background], rng, 25))
            draw = ImageDraw.Draw(image)
            colour = _jitter(_SHAPE_RGB[rng.integers(len(_SHAPE_RGB))], rng, 20)
            radius = image_size * rng.uniform(0.18, 0.36)
            cx, cy = (image_size / 2 + rng.uniform(-1, 1, size=2) * (image_size / 2 - radius - 2))
            if class_name == "circle":
                draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
            else:
                angle = rng.uniform(0, math.pi / 2)
                corners = [
                    (cx + radius * math.cos(angle + k * math.pi / 2), cy + radius * math.sin(angle + k * math.pi / 2))
                    for k in range(4)
                ]
                draw.polygon(corners, fill=colour)
            pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, size=(image_size, image_size, 3)).round().astype(np.int16)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            relative = f"images/{split}/{class_name}/{split}-{index:04d}.png"
            _write_atomic(root / relative, _png(image))
            rows.append((relative, class_name, split, background))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "split", "background"])
    writer.writerows(rows)
    _write_atomic(root / "concepts.yaml", yaml.safe_dump(SHAPES_CONCEPTS, sort_keys=False).encode("utf-8"))
    metadata = root / "metadata.csv"
    _write_atomic(metadata, buffer.getvalue().encode("utf-8"))
    return metadata


def _other(background: str) -> str:
    return BACKGROUNDS[1 - BACKGROUNDS.index(background)]


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)  # type: ignore[return-value]


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
