import numpy as np
import pytest

from alchemist_core.errors import InputError
from alchemist_core.generators.retrieval import chunk_text, load_documents, retrieve

VOCABULARY = ["spam", "link", "subscribe", "tomato", "garden", "soil"]


def bag_of_words(texts, **_):
    rows = np.array([[text.lower().count(w) + 1e-3 for w in VOCABULARY] for text in texts], dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_chunks_cover_the_text_with_overlap():
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_text(text, chunk_chars=200, overlap=40)
    assert all(len(c) <= 200 for c in chunks)
    assert chunks[0].startswith("word0 ") and chunks[-1].endswith("word399")
    for left, right in zip(chunks, chunks[1:]):
        assert right.split()[0] in left  # consecutive chunks overlap
    words = set(" ".join(chunks).split())
    assert words == set(text.split())  # no word is lost or cut


def test_chunk_arguments_are_checked():
    with pytest.raises(ValueError, match="overlap must be in"):
        chunk_text("abc", chunk_chars=10, overlap=10)
    with pytest.raises(ValueError, match="chunk_chars must be >= 1"):
        chunk_text("abc", chunk_chars=0)
    assert chunk_text("   ") == []


def test_retrieve_ranks_chunks_by_similarity():
    documents = [
        "Garden diary. Tomato plants need rich soil. " * 3,
        "Spam comments carry a link and beg you to subscribe.",
        "Soil and garden tips.",
    ]
    best = retrieve("how to spot spam with a link", documents, k=2, encode=bag_of_words)
    assert best[0] == "Spam comments carry a link and beg you to subscribe."
    assert len(best) == 2
    assert retrieve("tomato garden", documents, k=1, encode=bag_of_words)[0].startswith("Garden diary")
    assert retrieve("anything", [], encode=bag_of_words) == []


def test_retrieve_drops_repeated_chunks():
    documents = ["Spam has a link.", "Spam has a link.", "Tomato soil."]
    assert retrieve("spam link", documents, k=3, encode=bag_of_words) == ["Spam has a link.", "Tomato soil."]


def test_load_documents(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("# Spam\nLinks are spam.", encoding="utf-8")
    (tmp_path / "notes" / "b.txt").write_text("Ham talks about the song.", encoding="utf-8")
    (tmp_path / "notes" / "c.pdf").write_bytes(b"%PDF")
    assert load_documents([tmp_path / "notes"]) == ["# Spam\nLinks are spam.", "Ham talks about the song."]
    assert load_documents([str(tmp_path / "notes" / "b.txt")]) == ["Ham talks about the song."]
    with pytest.raises(InputError, match="has suffix '.pdf'"):
        load_documents([tmp_path / "notes" / "c.pdf"])
    with pytest.raises(InputError, match="no document at"):
        load_documents([tmp_path / "missing.txt"])
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        load_documents([tmp_path / "bad.txt"])


@pytest.mark.slow
def test_retrieve_with_the_minilm_encoder():
    documents = [
        "Spam comments on YouTube ask viewers to subscribe to a channel or click a link to win prizes.",
        "Tomatoes grow best in warm weather with well-drained soil and regular watering.",
        "The stock market closed higher today as technology shares rallied.",
    ]
    (best,) = retrieve("Which YouTube comments are spam?", documents, k=1)
    assert best == documents[0]
