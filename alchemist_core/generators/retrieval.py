"""Retrieval over the user's documents, for stage-one prompts.

Documents are cut into overlapping character chunks, embedded with the local MiniLM encoder
(:func:`alchemist_core.students.features.encode_texts`, nothing is downloaded) and ranked by cosine
similarity to the query. This replaces the reference code's LangChain + FAISS chain with a
few lines that run offline.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from alchemist_core.errors import InputError

logger = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = (".txt", ".md")

Encoder = Callable[[Sequence[str]], np.ndarray]


def chunk_text(text: str, *, chunk_chars: int = 1000, overlap: int = 100) -> list[str]:
    """Cut ``text`` into chunks of at most ``chunk_chars`` characters overlapping by ``overlap``.

    A chunk ends at the last whitespace in its second half and the next one starts at a word
    boundary inside the overlap, when there are such, so words are rarely cut. Blank chunks
    are dropped.

    Examples
    --------
    >>> chunk_text("one two three four", chunk_chars=9, overlap=0)
    ['one two', 'three', 'four']
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
    if not 0 <= overlap < chunk_chars:
        raise ValueError(f"overlap must be in [0, chunk_chars={chunk_chars}), got {overlap}")
    chunks = []
    start, n = 0, len(text)
    while start < n:
        end = min(start + chunk_chars, n)
        if end < n:
            cut = max(text.rfind(" ", start, end + 1), text.rfind("\n", start, end + 1))
            if cut > start + chunk_chars // 2:
                end = cut
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= n:
            break
        next_start = end - overlap
        if overlap and not text[next_start - 1].isspace():
            # Start the overlap at a word boundary rather than mid-word.
            boundary = next((i for i in range(next_start, end) if text[i].isspace()), None)
            if boundary is not None:
                next_start = boundary + 1
        start = max(next_start, start + 1)
    return chunks


def retrieve(
    query: str,
    documents: Sequence[str],
    *,
    k: int = 3,
    chunk_chars: int = 1000,
    overlap: int = 100,
    encode: Encoder | None = None,
) -> list[str]:
    """The ``k`` chunks of ``documents`` most similar to ``query``, best first.

    Parameters
    ----------
    query : str
    documents : sequence of str
        The text of the user's files (see :func:`load_documents`).
    k : int
    chunk_chars, overlap : int
        See :func:`chunk_text`.
    encode : callable, optional
        Texts to L2-normalised embeddings; :func:`alchemist_core.students.features.encode_texts` when ``None``.

    Returns
    -------
    list of str
        At most ``k`` distinct chunks.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    chunks: list[str] = []
    seen = set()
    for document in documents:
        for chunk in chunk_text(document, chunk_chars=chunk_chars, overlap=overlap):
            if chunk not in seen:
                seen.add(chunk)
                chunks.append(chunk)
    if not chunks:
        return []
    if encode is None:
        from alchemist_core.students.features import encode_texts

        encode = encode_texts
    embeddings = np.asarray(encode([query, *chunks]), dtype=np.float32)  # (1 + n_chunks, dim)
    scores = embeddings[1:] @ embeddings[0]
    order = np.argsort(-scores, kind="stable")[:k]
    logger.debug("retrieved %d of %d chunks; best score %.3f", len(order), len(chunks), float(scores[order[0]]))
    return [chunks[i] for i in order]


def load_documents(paths: Iterable[str | Path]) -> list[str]:
    """Read the text of ``.txt`` and ``.md`` files; a folder contributes all such files in it, recursively.

    Raises
    ------
    InputError
        When a path does not exist, has another suffix, or is not UTF-8 text.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES))
        elif path.is_file():
            if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                raise InputError(f"document {path} has suffix {path.suffix!r}; expected one of {DOCUMENT_SUFFIXES}")
            files.append(path)
        else:
            raise InputError(f"no document at {path}; expected a .txt or .md file or a folder of them")
    documents = []
    for file in files:
        try:
            documents.append(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise InputError(f"document {file} is not UTF-8 text: {error}") from None
    return documents
