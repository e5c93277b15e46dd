import io
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from alchemist_core.data.ingest import load_dataset_manifest, read_gold
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.images.dataset import (
    ImageDecodeError,
    decode_image,
    image_dataset_digest,
    ingest_images,
    load_image_dataset,
    load_images,
    read_groups,
)
from alchemist_core.images.demo import SHAPES_CLASSES, make_shapes_dataset


def png(colour=(200, 10, 10), size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def class_folder(root, counts={"cat": 3, "dog": 2}):
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"{i}.png").write_bytes(png((10 * i, 100, 0)))
    return root


def test_class_folders_become_labels_and_row_ids_are_paths(tmp_path):
    source = class_folder(tmp_path / "src")
    dataset = ingest_images(str(source), Storage(str(tmp_path / "ds")), class_names=["dog", "cat"])
    data = Storage(str(tmp_path / "ds"))
    row_ids, gold = read_gold(data, "train")
    assert dict(zip(row_ids.tolist(), gold.tolist())) == {
        "cat/0.png": 1, "cat/1.png": 1, "cat/2.png": 1, "dog/0.png": 0, "dog/1.png": 0,
    }  # fmt: skip
    assert dataset.manifest.class_names == ("dog", "cat")
    assert dataset.manifest.format == "images"
    shard = data.read_table(dataset.manifest.splits["train"].shards[0])
    assert shard.column_names == ["row_id", "image"]
    assert shard.column("image").to_pylist()[0] == (source / "cat" / "0.png").read_bytes()
    # The generic loader of the text pipeline reads the same manifest.
    assert load_dataset_manifest(data).splits["train"].n_rows == 5


def test_split_folders_and_unlabeled_root(tmp_path):
    for split in ("train", "test"):
        class_folder(tmp_path / "src" / split, {"a": 2, "b": 1})
    dataset = ingest_images(str(tmp_path / "src"), Storage(str(tmp_path / "ds")))
    assert {s: i.n_rows for s, i in dataset.manifest.splits.items()} == {"train": 3, "test": 3}
    assert dataset.manifest.class_names == ("a", "b")

    (tmp_path / "flat").mkdir()
    for i in range(3):
        (tmp_path / "flat" / f"{i}.jpg").write_bytes(png())
    unlabeled = ingest_images(str(tmp_path / "flat"), Storage(str(tmp_path / "ds2")))
    assert not unlabeled.manifest.splits["train"].has_gold
    assert read_gold(Storage(str(tmp_path / "ds2")), "train")[1].tolist() == [-1, -1, -1]


def test_mixed_folder_depths_are_rejected(tmp_path):
    class_folder(tmp_path / "src", {"a": 1, "b": 1})
    (tmp_path / "src" / "loose.png").write_bytes(png())
    with pytest.raises(InputError, match="mixes image depths"):
        ingest_images(str(tmp_path / "src"), Storage(str(tmp_path / "ds")))


def test_corrupt_missing_and_empty_images_are_counted_and_skipped(tmp_path, caplog):
    source = class_folder(tmp_path / "src", {"a": 3, "b": 3})
    (source / "a" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (source / "b" / "2.png").write_bytes(png()[:40])  # truncated
    (source / "b" / "empty.png").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="alchemist_core.images.dataset"):
        dataset = ingest_images(str(source), Storage(str(tmp_path / "ds")))
    assert dataset.info.n_skipped == {"train": {"corrupt": 2, "empty": 1}}
    assert dataset.info.total_skipped == 3
    assert sorted(s.where.rsplit("/", 2)[-2] + "/" + s.where.rsplit("/", 1)[-1] for s in dataset.info.skipped) == [
        "a/1.png", "b/2.png", "b/empty.png",
    ]  # fmt: skip
    assert dataset.manifest.splits["train"].n_rows == 4
    assert "skipped 3 unusable images" in caplog.text
    # The counts are stored beside the manifest and read back.
    assert load_image_dataset(Storage(str(tmp_path / "ds"))).info.n_skipped == {"train": {"corrupt": 2, "empty": 1}}


def test_a_table_of_relative_paths_with_splits_and_groups(tmp_path):
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(6):
        (tmp_path / "img" / f"{i}.png").write_bytes(png((i * 40, 0, 0)))
        rows.append({"file": f"img/{i}.png", "y": ["land", "water"][i % 2], "part": ["train", "test"][i // 3], "place": ["forest", "lake"][i % 3 == 0]})
    rows.append({"file": "img/missing.png", "y": "land", "part": "test", "place": "lake"})
    pd.DataFrame(rows).to_csv(tmp_path / "meta.csv", index=False)
    options = dict(image_field="file", label_field="y", split_field="part", group_field="place", class_names=["land", "water"])
    dataset = ingest_images(str(tmp_path / "meta.csv"), Storage(str(tmp_path / "ds")), **options)
    data = Storage(str(tmp_path / "ds"))
    assert {s: i.n_rows for s, i in dataset.manifest.splits.items()} == {"train": 3, "test": 3}
    assert dataset.info.n_skipped == {"test": {"missing": 1}}
    assert dataset.info.groups == ("forest", "lake")
    row_ids, groups = read_groups(data, "train")
    assert row_ids.tolist() == ["train:0", "train:1", "train:2"]
    assert groups.tolist() == ["lake", "forest", "forest"]
    # Row ids count source rows, so the skipped row leaves a gap rather than renumbering.
    assert read_gold(data, "test")[0].tolist() == ["test:0", "test:1", "test:2"]
    assert image_dataset_digest(str(tmp_path / "meta.csv"), **options) == dataset.manifest.digest


def test_a_table_and_its_images_behind_fsspec_urls(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/shop/img/a.png", png())
    fs.pipe("/shop/img/b.png", png((0, 0, 255)))
    # One relative path (read beside the table) and one absolute URL.
    fs.pipe("/shop/meta.csv", b"image,label\nimg/a.png,0\nmemory://shop/img/b.png,1\nmemory://shop/img/gone.png,1\n")
    dataset = ingest_images("memory://shop/meta.csv", Storage(str(tmp_path / "ds")), class_names=["x", "y"], store="uri")
    assert dataset.info.n_skipped == {"train": {"missing": 1}}
    shard = Storage(str(tmp_path / "ds")).read_table(dataset.manifest.splits["train"].shards[0])
    uris = shard.column("uri").to_pylist()
    assert [u.replace("memory://", "").lstrip("/") for u in uris] == ["shop/img/a.png", "shop/img/b.png"]
    assert [image.getpixel((0, 0)) for image in load_images(shard)] == [(200, 10, 10), (0, 0, 255)]
    fs.rm("/shop", recursive=True)


def test_parquet_bytes_and_hugging_face_structs(tmp_path):
    table = pa.table({
        "img": pa.array([png(), png((0, 0, 255)), b"junk"], pa.binary()),
        "label": ["0", "1", "1"],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "bytes.parquet")
    dataset = ingest_images(str(tmp_path / "bytes.parquet"), Storage(str(tmp_path / "a")), image_field="img", class_names=["x", "y"])
    assert dataset.manifest.splits["train"].n_rows == 2
    assert dataset.info.n_skipped == {"train": {"corrupt": 1}}

    struct = pa.table({"image": [{"bytes": png(), "path": None}, {"bytes": png((1, 2, 3)), "path": None}], "label": ["x", "y"]})
    pq.write_table(struct, tmp_path / "hf.parquet")
    hf = ingest_images(str(tmp_path / "hf.parquet"), Storage(str(tmp_path / "b")), class_names=["x", "y"])
    assert read_gold(Storage(str(tmp_path / "b")), "train")[1].tolist() == [0, 1]
    assert hf.info.total_skipped == 0
    with pytest.raises(InputError, match="store='uri'"):
        ingest_images(str(tmp_path / "bytes.parquet"), Storage(str(tmp_path / "c")), image_field="img", store="uri")


def test_store_uri_keeps_paths_and_images_load_from_them(tmp_path):
    source = class_folder(tmp_path / "src", {"a": 2, "b": 2})
    dataset = ingest_images(str(source), Storage(str(tmp_path / "ds")), store="uri")
    shard = Storage(str(tmp_path / "ds")).read_table(dataset.manifest.splits["train"].shards[0])
    assert shard.column_names == ["row_id", "uri"]
    images = load_images(shard)
    assert [image.size for image in images] == [(8, 8)] * 4
    (source / "a" / "0.png").unlink()
    with pytest.raises(InputError, match="cannot read the image"):
        load_images(shard)


def test_everything_unusable_or_wrong_labels_is_an_error(tmp_path):
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "x.png").write_bytes(b"nope")
    (tmp_path / "bad" / "b").mkdir()
    (tmp_path / "bad" / "b" / "y.png").write_bytes(b"")
    with pytest.raises(InputError, match="none of the 2 images"):
        ingest_images(str(tmp_path / "bad"), Storage(str(tmp_path / "ds")))
    assert not Storage(str(tmp_path / "ds")).exists("dataset.json")

    source = class_folder(tmp_path / "src", {"cat": 1, "dog": 1})
    with pytest.raises(InputError, match="not classes"):
        ingest_images(str(source), Storage(str(tmp_path / "ds2")), class_names=["cat", "bird"])
    with pytest.raises(InputError, match="nothing is there"):
        ingest_images(str(tmp_path / "nowhere"), Storage(str(tmp_path / "ds3")))


def test_a_second_ingest_of_the_same_images_reuses_the_folder(tmp_path):
    source = class_folder(tmp_path / "src")
    data = Storage(str(tmp_path / "ds"))
    first = ingest_images(str(source), data)
    stamp = (tmp_path / "ds" / "dataset.json").stat().st_mtime_ns
    assert ingest_images(str(source), data) == first
    assert (tmp_path / "ds" / "dataset.json").stat().st_mtime_ns == stamp
    (source / "cat" / "0.png").write_bytes(png((1, 1, 1)))
    assert ingest_images(str(source), data).manifest.digest != first.manifest.digest


def test_decode_image_reasons():
    assert decode_image(png(size=(3, 5))).size == (3, 5)
    for data, reason in ((b"", "empty"), (None, "empty"), (b"GIF89a garbage", "corrupt")):
        with pytest.raises(ImageDecodeError) as caught:
            decode_image(data)
        assert caught.value.reason == reason


def test_the_shapes_demo_is_seeded_and_spuriously_correlated(tmp_path):
    first = make_shapes_dataset(tmp_path / "a", n_train=40, n_valid=8, n_test=40, seed=3)
    second = make_shapes_dataset(tmp_path / "b", n_train=40, n_valid=8, n_test=40, seed=3)
    assert first.read_text() == second.read_text()
    assert (tmp_path / "a" / "images/train/circle/train-0000.png").read_bytes() == (
        tmp_path / "b" / "images/train/circle/train-0000.png"
    ).read_bytes()
    meta = pd.read_csv(first)
    assert set(meta["label"]) == set(SHAPES_CLASSES)
    matching = (meta["label"] == "circle") == (meta["background"] == "blue")
    train, test = matching[meta["split"] == "train"], matching[meta["split"] == "test"]
    assert train.mean() >= 0.85 and 0.25 <= test.mean() <= 0.75
    assert Image.open(tmp_path / "a" / "images/test/square/test-0001.png").size == (64, 64)
    dataset = ingest_images(
        str(first), Storage(str(tmp_path / "ds")), image_field="path", split_field="split", group_field="background",
        class_names=list(SHAPES_CLASSES),
    )  # fmt: skip
    assert dataset.info.groups == ("blue", "yellow")
    assert np.unique(read_gold(Storage(str(tmp_path / "ds")), "test")[1]).tolist() == [0, 1]
