import time

import numpy as np
import pytest
import torch
from PIL import Image

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.images.clip import (
    TINY_MODEL,
    ClipModelSpec,
    concept_scores,
    embed_images_with_cache,
    load_clip,
    zero_shot_proba,
    zero_shot_prompts,
)
from alchemist_core.students.features import EmbeddingCache


def images(n=6):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny():
    return load_clip(ClipModelSpec(TINY_MODEL, seed=11), device="cpu")


def test_the_tiny_model_embeds_images_and_texts(tiny):
    E = tiny.encode_images(images(5), batch_size=2)
    T = tiny.encode_texts(["a photo of a circle", "a photo of a square"])
    assert E.shape == (5, 64) and T.shape == (2, 64)
    assert E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert 1.0 < tiny.logit_scale <= 100.0
    assert load_clip(ClipModelSpec(TINY_MODEL, seed=11), device="cpu") is tiny


def test_random_weights_are_seeded_without_touching_the_global_rng(tiny):
    state = torch.get_rng_state()
    other = load_clip(ClipModelSpec(TINY_MODEL, seed=12), device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    assert not np.allclose(other.encode_texts(["a"]), tiny.encode_texts(["a"]))


def test_a_saved_checkpoint_loads_by_path_with_identical_features(tiny, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), path)
    spec = ClipModelSpec(TINY_MODEL, pretrained=str(path))
    identity = spec.identity
    assert spec.is_checkpoint and identity.startswith(f"{TINY_MODEL}:sha256:")
    loaded = load_clip(spec, device="cpu")
    assert loaded is not tiny
    pictures = images(4)
    np.testing.assert_array_equal(loaded.encode_images(pictures), tiny.encode_images(pictures))
    np.testing.assert_array_equal(loaded.encode_texts(["a bird"]), tiny.encode_texts(["a bird"]))
    # The cache identity follows the bytes, not the path.
    torch.save({k: v + 1 for k, v in tiny.model.state_dict().items()}, path)
    assert ClipModelSpec(TINY_MODEL, pretrained=str(path)).identity != identity


def test_weights_that_cannot_be_found_fail_at_once_and_say_why(tmp_path):
    with pytest.raises(InputError, match="expected a CLIP checkpoint file"):
        load_clip(ClipModelSpec(TINY_MODEL, pretrained=str(tmp_path / "missing.pt")), device="cpu")
    with pytest.raises(InputError, match="neither a checkpoint file nor a pretrained tag"):
        load_clip(ClipModelSpec("ViT-B-32", pretrained="no-such-tag"), device="cpu")
    with pytest.raises(InputError, match="unknown CLIP model"):
        load_clip(ClipModelSpec("ViT-Nope", pretrained=None), device="cpu")
    (tmp_path / "wrong.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="could not load CLIP"):
        load_clip(ClipModelSpec(TINY_MODEL, pretrained=str(tmp_path / "wrong.pt")), device="cpu")


def test_a_tag_missing_from_the_cache_fails_fast_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"not in the local cache .* downloads are off"):
        load_clip(ClipModelSpec("ViT-B-32", pretrained="openai", cache_dir=str(tmp_path)), device="cpu")
    assert time.perf_counter() - started < 5.0


def test_a_tag_found_in_the_local_cache_loads_with_its_settings(tiny, tmp_path, monkeypatch):
    import open_clip

    # A Hugging Face cache laid out as huggingface_hub writes it, for a tag registered here.
    snapshot = tmp_path / "models--alchemist--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "models--alchemist--tiny" / "refs").mkdir()
    (tmp_path / "models--alchemist--tiny" / "refs" / "main").write_text("abc123")
    torch.save(tiny.model.state_dict(), snapshot / "open_clip_pytorch_model.bin")
    config = {"hf_hub": "alchemist/tiny/", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
              "interpolation": "bicubic", "resize_mode": "shortest"}  # fmt: skip
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_MODEL, {"cached": config})
    loaded = load_clip(ClipModelSpec(TINY_MODEL, pretrained="cached", cache_dir=str(tmp_path)), device="cpu")
    np.testing.assert_array_equal(loaded.encode_texts(["a bird"]), tiny.encode_texts(["a bird"]))
    normalize = loaded.preprocess.transforms[-1]
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)


def test_concept_scores_are_per_concept_softmax_shares():
    rng = np.random.default_rng(1)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    image_embeddings = unit(rng.normal(size=(7, 16)))
    prompt_embeddings = unit(rng.normal(size=(3 * 2, 16)))  # 3 concepts x 2 classes
    scores = concept_scores(image_embeddings, prompt_embeddings, 2, 50.0)
    assert scores.shape == (7, 6) and scores.dtype == np.float32
    assert (scores >= 0).all() and (scores <= 1).all()
    np.testing.assert_allclose(scores.reshape(7, 3, 2).sum(axis=2), 1.0, atol=1e-6)
    # The image equal to the waterbird prompt of concept 1 scores highest there.
    probe = concept_scores(prompt_embeddings[3:4], prompt_embeddings, 2, 100.0)
    assert probe[0, 3] > probe[0, 2]
    with pytest.raises(InputError, match="one per class per concept"):
        concept_scores(image_embeddings, prompt_embeddings[:5], 2, 50.0)


def test_zero_shot_prompts_and_probabilities():
    assert zero_shot_prompts(["land_bird", "waterbird"], "an image of {class_name}") == ["an image of land bird", "an image of waterbird"]
    proba = zero_shot_proba(np.eye(3)[:2], np.eye(3), 10.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.argmax(axis=1).tolist() == [0, 1]


def test_image_embeddings_are_cached_by_model_and_content(tiny, tmp_path):
    cache = EmbeddingCache(Storage(str(tmp_path)), dtype="float32")
    calls = []

    def loader():
        calls.append(1)
        return images(3)

    first, hit = embed_images_with_cache(tiny, loader, "digest-a", cache)
    assert not hit and len(calls) == 1
    again, hit = embed_images_with_cache(tiny, loader, "digest-a", cache)
    assert hit and len(calls) == 1
    np.testing.assert_array_equal(first, again)
    _, hit = embed_images_with_cache(tiny, loader, "digest-b", cache)
    assert not hit and len(calls) == 2


@pytest.mark.gpu
def test_features_on_the_gpu_match_the_cpu(tiny):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    on_gpu = load_clip(ClipModelSpec(TINY_MODEL, seed=11), device="cuda")
    assert on_gpu.device == "cuda"
    pictures = images(4)
    np.testing.assert_allclose(on_gpu.encode_images(pictures), tiny.encode_images(pictures), atol=1e-4)
