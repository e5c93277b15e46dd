"""Student features: MiniLM sentences per second, and what sorting, deduplication and the cache buy.

Comment-length texts have a long tail of lengths, and a batch is padded to its longest text,
so on a CPU the encoder's time goes mostly into padding. :func:`alchemist_core.students.features.
encode_texts` embeds each distinct text once, in order of length;
:func:`~alchemist_core.students.features.embed_with_cache` keeps the result under a content digest.
Measured, interleaved, best of ``--repeats``:

* **baseline**: every row embedded in its original order, ``batch_size`` rows per
  ``encode`` call (sentence-transformers sorts only within a call, so each batch is padded to
  its own longest text), duplicates embedded again;
* **encode_texts**: distinct texts only, sorted by length;
* **cache hit**: :func:`embed_with_cache` on texts it has seen (a rerun).

The texts are the WRENCH YouTube comments (train split) when ``../shared/data`` is beside the
checkout, else synthetic comments with a similar long tail of lengths and 15 % repeats. A GPU
is used when torch sees one.

Usage::

    python benchmarks/embedding_speed.py [--rows 1686] [--threads 2] [--batch-size 64] [--quick]
"""

from __future__ import annotations

import json
import logging
import tempfile
from typing import Any, Sequence

import common  # noqa: I001  (sets thread variables before numpy loads)
import numpy as np
from common import (
    REPO,
    describe_machine,
    interleaved,
    machine_summary,
    print_table,
    runs,
    timed,
    write_json,
)

YOUTUBE = REPO.parent / "shared" / "data" / "wrench" / "youtube" / "train.json"


def youtube_comments() -> list[str] | None:
    if not YOUTUBE.exists():
        return None
    rows = json.loads(YOUTUBE.read_text(encoding="utf-8"))
    return [str(row["data"]["text"]) for row in rows.values()]


def synthetic_comments(n_rows: int, seed: int) -> list[str]:
    """Comments of lognormal length (median about 9 words, a tail past 100), 15 % repeats."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array(
        "the a to and of i you it is this that my love song video check out channel great so me "
        "on for please subscribe like best music her voice watch new free people just what really".split(),
        dtype=object,
    )
    lengths = np.clip(rng.lognormal(np.log(9), 0.9, n_rows).astype(int), 1, 200)
    texts = [" ".join(vocabulary[rng.integers(0, len(vocabulary), n)]) for n in lengths]
    repeats = np.flatnonzero(rng.random(n_rows) < 0.15)
    for i in repeats[repeats > 0]:
        texts[i] = texts[int(rng.integers(0, i))]
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=None, help="texts to embed (default: all YouTube comments, or 1,686 synthetic ones)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--synthetic", action="store_true", help="use synthetic comments even when the YouTube data is there"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 48, 1
    logging.basicConfig(level=logging.WARNING)

    import torch

    from alchemist_core.data.storage import open_storage
    from alchemist_core.students.features import (
        embed_with_cache,
        encode_texts,
        load_text_encoder,
        select_device,
    )

    torch.set_num_threads(args.threads)
    texts = None if args.synthetic else youtube_comments()
    source = "WRENCH YouTube comments (train)" if texts is not None else "synthetic comments"
    if texts is None:
        texts = synthetic_comments(args.rows or 1686, args.seed)
    if args.rows is not None:
        texts = (texts * (args.rows // len(texts) + 1))[: args.rows]
    n_distinct = len(set(texts))
    lengths = np.array([len(t) for t in texts])

    machine = machine_summary()
    device = select_device(None)
    print(f"machine: {describe_machine(machine)}; device {device}, {args.threads} torch threads")
    load_seconds, model = timed(lambda: load_text_encoder(device=device))
    model.encode(texts[:8], batch_size=args.batch_size, show_progress_bar=False)  # first-call set-up

    def baseline() -> np.ndarray:
        size = args.batch_size
        blocks = [
            model.encode(texts[i : i + size], batch_size=size, normalize_embeddings=True, show_progress_bar=False)
            for i in range(0, len(texts), size)
        ]
        return np.concatenate(blocks)

    def candidate() -> np.ndarray:
        return encode_texts(texts, batch_size=args.batch_size, device=device)

    times, results = interleaved({"baseline": baseline, "encode_texts": candidate}, args.repeats)
    gap = float(np.abs(results["baseline"] - results["encode_texts"]).max())
    if gap > 1e-3:
        raise AssertionError(f"sorted, deduplicated embeddings differ from the baseline's by {gap}")

    with tempfile.TemporaryDirectory(prefix="alchemist-bench-embed-", dir=args.workdir) as folder:
        cache = open_storage(folder)

        def cached() -> np.ndarray:
            return embed_with_cache(texts, cache, batch_size=args.batch_size, device=device)

        miss_seconds, _ = timed(cached)
        hit_times = [timed(cached)[0] for _ in range(3)]

    n = len(texts)
    best = {name: min(values) for name, values in times.items()}

    def row(label: str, seconds: Sequence[float]) -> list[Any]:
        best_seconds = min(seconds)
        return [label, n / best_seconds, best_seconds, runs(seconds), f"{best['baseline'] / best_seconds:.2f}x"]

    print_table(
        f"MiniLM (all-MiniLM-L6-v2) on {n:,} {source} ({n_distinct:,} distinct; {lengths.mean():.0f} characters "
        f"on average, {lengths.max():,} at most), batch {args.batch_size}, {device}, best of {args.repeats}",
        ["method", "rows/s", "best s", "all runs s", "vs baseline"],
        [
            row("baseline: original order, every row", times["baseline"]),
            row("encode_texts: distinct texts, sorted by length", times["encode_texts"]),
            row("embed_with_cache, first call (miss)", [miss_seconds]),
            row("embed_with_cache, rerun (hit)", hit_times),
        ],
    )
    print(
        f"\nencoder loaded in {load_seconds:.1f} s; distinct texts embedded per second by encode_texts: "
        f"{n_distinct / best['encode_texts']:.0f}; largest difference from the baseline's embeddings: {gap:.1e}"
    )
    print(f"load average after the run: {[round(x, 2) for x in common.os.getloadavg()]}")
    write_json(
        args.json,
        {
            "machine": machine, "device": device, "threads": args.threads, "source": source, "rows": n,
            "distinct": n_distinct, "mean_chars": float(lengths.mean()), "times": times,
            "cache_miss_seconds": miss_seconds, "cache_hit_seconds": hit_times,
            "rows_per_second": {k: n / v for k, v in best.items()}, "max_difference": gap,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
