import numpy as np
import pytest
import scipy.sparse

from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError
from alchemist_core.students import features
from alchemist_core.students.features import (
    EmbeddingCache,
    SentenceEmbeddingFeaturizer,
    TfidfFeaturizer,
    embed_with_cache,
    encode_texts,
    load_featurizer,
    load_text_encoder,
    make_featurizer,
    save_featurizer,
    select_device,
    text_digest,
)

COMMENTS = [
    "Check out my channel for free gift cards!!!",
    "This song brings back so many memories",
    "subscribe to me and I will subscribe back",
    "Love this video",
    None,
]


# -- the real MiniLM ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm", device="cpu")


@pytest.fixture
def encode_calls(minilm, monkeypatch):
    """Spy on the cached model: one entry (the texts it was given) per encode call."""
    calls = []
    real_encode = minilm.encode

    def spy(sentences, **kwargs):
        calls.append(list(sentences))
        return real_encode(sentences, **kwargs)

    monkeypatch.setattr(minilm, "encode", spy)
    return calls


@pytest.mark.slow
def test_similar_sentences_are_closer_than_unrelated(minilm):
    E = encode_texts(["a cat sits on the mat", "a kitten on a rug", "stock markets fell sharply today"], device="cpu")
    assert E.shape == (3, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > 0.4 > E[0] @ E[2]


@pytest.mark.slow
def test_duplicates_are_embedded_once_and_order_is_kept(encode_calls):
    texts = [COMMENTS[0], COMMENTS[3], COMMENTS[0], None, COMMENTS[1], COMMENTS[3], ""]
    E = encode_texts(texts, device="cpu")
    assert len(encode_calls) == 1
    assert sorted(encode_calls[0]) == sorted({COMMENTS[0], COMMENTS[3], COMMENTS[1], ""})
    # sorted by length before encoding
    assert [len(t) for t in encode_calls[0]] == sorted(len(t) for t in encode_calls[0])
    assert E.shape == (7, 384)
    np.testing.assert_array_equal(E[0], E[2])
    np.testing.assert_array_equal(E[1], E[5])
    np.testing.assert_array_equal(E[3], E[6])  # None is embedded as ""
    # each row is the embedding of its own text, whatever the batch order was
    for text, row in zip(texts, E):
        np.testing.assert_allclose(encode_texts([text], device="cpu")[0], row, atol=1e-5)


@pytest.mark.slow
def test_empty_input_gives_empty_matrix(minilm):
    assert encode_texts([], device="cpu").shape == (0, 384)


def test_a_single_string_is_refused():
    with pytest.raises(InputError, match="single str"):
        encode_texts("not a list")


def test_unknown_encoder_is_refused(tmp_path):
    with pytest.raises(InputError, match="sentence-transformers folder"):
        load_text_encoder(str(tmp_path / "missing"), device="cpu")


# -- devices ------------------------------------------------------------------------------------


def test_device_falls_back_to_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == "cpu"
    assert select_device("cpu") == "cpu"
    with pytest.raises(InputError, match="no CUDA device"):
        select_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(None) == "cuda"


# -- the embedding cache ------------------------------------------------------------------------


@pytest.fixture
def fake_encoder(monkeypatch):
    """A deterministic stand-in for the model (one fixed vector per text); records its calls."""
    calls = []

    def fake_encode_texts(texts, *, encoder, batch_size, device):
        calls.append(list(texts))
        rows = [np.random.default_rng(list((t or "").encode()) or [0]).normal(size=8) for t in texts]
        E = np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)
        return E / np.linalg.norm(E, axis=1, keepdims=True)

    monkeypatch.setattr(features, "encode_texts", fake_encode_texts)
    return calls


def test_text_digest_depends_on_order_and_boundaries():
    assert text_digest(["a", "b"]) == text_digest(["a", "b"])
    assert text_digest(["a", "b"]) != text_digest(["b", "a"])
    assert text_digest(["ab", "c"]) != text_digest(["a", "bc"])
    assert text_digest([None]) == text_digest([""])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_cache_hit_returns_identical_array_without_the_model(tmp_path, fake_encoder, dtype):
    storage = open_storage(str(tmp_path))
    first = embed_with_cache(COMMENTS, storage, dtype=dtype)
    assert len(fake_encoder) == 1
    second = embed_with_cache(COMMENTS, storage, dtype=dtype)
    assert len(fake_encoder) == 1
    assert second.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    key = EmbeddingCache(storage, dtype=dtype).key(COMMENTS)
    assert storage.list(suffix=".npy") == [f"{key}.npy"]


def test_cache_misses_on_other_texts_order_or_encoder(tmp_path, fake_encoder):
    storage = open_storage(str(tmp_path))
    embed_with_cache(COMMENTS, storage)
    embed_with_cache(COMMENTS[::-1], storage)
    embed_with_cache(COMMENTS, storage, encoder="/models/other")
    assert len(fake_encoder) == 3
    assert len(storage.list(suffix=".npy")) == 3


def test_cache_precision(tmp_path, fake_encoder):
    fresh = features.encode_texts(COMMENTS, encoder="minilm", batch_size=64, device=None)
    exact = embed_with_cache(COMMENTS, open_storage(str(tmp_path / "32")), dtype="float32")
    half = embed_with_cache(COMMENTS, open_storage(str(tmp_path / "16")), dtype="float16")
    np.testing.assert_array_equal(exact, fresh)
    np.testing.assert_allclose(half, fresh, atol=1e-3)
    assert not np.array_equal(half, fresh)


def test_cache_entry_with_wrong_row_count_is_recomputed(tmp_path, fake_encoder):
    storage = open_storage(str(tmp_path))
    cache = EmbeddingCache(storage)
    cache.put(cache.key(COMMENTS), np.zeros((2, 8), dtype=np.float32))
    assert embed_with_cache(COMMENTS, storage).shape == (len(COMMENTS), 8)
    assert len(fake_encoder) == 1
    assert cache.get(cache.key(COMMENTS)).shape == (len(COMMENTS), 8)


def test_no_storage_means_no_cache(fake_encoder):
    embed_with_cache(COMMENTS, None)
    embed_with_cache(COMMENTS, None)
    assert len(fake_encoder) == 2


def test_cache_dtype_is_checked(tmp_path):
    with pytest.raises(InputError, match="float16"):
        EmbeddingCache(open_storage(str(tmp_path)), dtype="int8")


# -- featurizers --------------------------------------------------------------------------------

TRAIN = [
    "win a free iphone now, click here",
    "free gift cards at my channel",
    "great song, reminds me of summer",
    "the drummer is amazing in this video",
    None,
]


def test_tfidf_shapes_and_norms():
    featurizer = TfidfFeaturizer(max_features=500).fit(TRAIN)
    X = featurizer.transform(TRAIN + ["completely unseen wording", ""])
    assert scipy.sparse.issparse(X) and X.dtype == np.float32
    assert X.shape == (7, featurizer.n_features_out_)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms[:4], 1.0, atol=1e-5)
    assert norms[6] == 0.0
    # word and character n-grams both present
    word, char = (v for _, v in featurizer.union_.transformer_list)
    assert "free gift" in word.vocabulary_ and " fr" in char.vocabulary_


def test_tfidf_max_features_bounds_each_vocabulary():
    featurizer = TfidfFeaturizer(max_features=10).fit(TRAIN)
    assert featurizer.n_features_out_ == 20


def test_tfidf_dense_output():
    X = TfidfFeaturizer(max_features=100, dense=True).fit_transform(TRAIN)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32 and X.shape[0] == 5


def test_tfidf_needs_fit_first():
    with pytest.raises(InputError, match="before fit"):
        TfidfFeaturizer().transform(TRAIN)
    with pytest.raises(InputError, match="at least one"):
        TfidfFeaturizer().fit([])


def test_featurizer_save_load_roundtrip(tmp_path):
    storage = open_storage(str(tmp_path))
    featurizer = TfidfFeaturizer(max_features=300).fit(TRAIN)
    save_featurizer(featurizer, storage, "student", "featurizer.pkl")
    loaded = load_featurizer(storage, "student", "featurizer.pkl")
    new_texts = ["free iphone for the drummer", "summer song"]
    assert (loaded.transform(new_texts) != featurizer.transform(new_texts)).nnz == 0


def test_embedding_featurizer_is_saved_without_its_cache(tmp_path):
    storage = open_storage(str(tmp_path))
    featurizer = SentenceEmbeddingFeaturizer(encoder="minilm", batch_size=32, cache=storage.child("cache"))
    save_featurizer(featurizer, storage, "f.pkl")
    loaded = load_featurizer(storage, "f.pkl")
    assert (loaded.encoder, loaded.batch_size, loaded.cache) == ("minilm", 32, None)


def test_embedding_featurizer_uses_its_cache(tmp_path, fake_encoder):
    storage = open_storage(str(tmp_path))
    featurizer = make_featurizer("minilm", cache=storage)
    first = featurizer.fit_transform(TRAIN)
    np.testing.assert_array_equal(featurizer.transform(TRAIN), first)
    assert len(fake_encoder) == 1


def test_make_featurizer_by_name():
    assert isinstance(make_featurizer("tfidf", max_features=5), TfidfFeaturizer)
    assert isinstance(make_featurizer("minilm"), SentenceEmbeddingFeaturizer)
    with pytest.raises(InputError, match="expected one of"):
        make_featurizer("bert")
