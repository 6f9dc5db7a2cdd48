"""compute_features: embeddings and activations cached by content, resumed where they stopped; unchanged files not
read again."""

import os
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers import make_color_folders
from labelfix.backbones import load_backbone, with_input_size
from labelfix.devices import reduced_precision
from labelfix.features import embed
from labelfix.features.cache import EmbeddingCache, KnownContents
from labelfix.features.embed import compute_features, with_mirror_views


def test_activations_are_cached_and_only_missing_ones_are_computed_again(tmp_path, tiny_weights):
    make_color_folders(tmp_path / "d", per_class=3)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    (tmp_path / "d" / "broken.png").write_bytes(b"no image")
    paths.append(tmp_path / "d" / "broken.png")
    backbone = replace(with_input_size(load_backbone("test_efficientnet", tiny_weights), 32), flip_average=True)
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = compute_features(paths, backbone, cache, workers=0, with_activations=True)
        assert first.newly_embedded == 9 and first.activations.shape == (10, 2, 48, 2, 2)
        assert not first.activations[9].any()  # the unreadable file
        again = compute_features(paths, backbone, cache, workers=0, with_activations=True)
        assert again.newly_embedded == 0 and again.from_cache == 9
        np.testing.assert_array_equal(again.activations, first.activations)
        cache._db.execute("DELETE FROM activations WHERE content_hash = ?", (first.content_hashes[0],))
        cache._db.commit()
        resumed = compute_features(paths, backbone, cache, workers=0, with_activations=True)
        assert resumed.newly_embedded == 1  # only the image whose activations are missing is decoded again
        np.testing.assert_allclose(resumed.activations, first.activations, atol=1e-3)  # batched in another batch
        plain = compute_features(paths, backbone, cache, workers=0)
        assert plain.newly_embedded == 0 and plain.activations is None


def test_mirror_views_are_what_flip_averaging_computes_and_are_cached(tmp_path, tiny_weights):
    make_color_folders(tmp_path / "d", per_class=3)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    (tmp_path / "d" / "broken.png").write_bytes(b"no image")
    paths.append(tmp_path / "d" / "broken.png")
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        both = compute_features(paths, replace(backbone, flip_average=True), cache, workers=0, with_activations=True)
        plain = compute_features(paths, backbone, cache, workers=0, with_activations=True)
        views = with_mirror_views(plain.activations, plain.content_hashes, paths, backbone, cache, workers=0)
        np.testing.assert_allclose(views, both.activations, atol=1e-3)
        assert views.shape == (10, 2, 48, 2, 2) and not views[9].any()  # the unreadable file
        (tmp_path / "d" / "red").rename(tmp_path / "d" / "gone")  # cached: the files are not read again
        again = with_mirror_views(plain.activations, plain.content_hashes, paths, backbone, cache, workers=0)
        np.testing.assert_array_equal(again, views)


@pytest.mark.parametrize("amx, avx512_bf16, expected", [(True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                                         (False, False, None)])
def test_the_cpu_runs_in_bf16_only_where_it_computes_bf16_natively(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert reduced_precision(torch.device("cpu")) == expected
    assert reduced_precision(torch.device("cuda")) == torch.float16


def test_embeddings_in_reduced_precision_point_where_full_precision_ones_do(tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)  # bf16 is emulated where it is not native
    make_color_folders(tmp_path / "d", per_class=4)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    embedded = {}
    for reduced in (True, False):
        with EmbeddingCache(tmp_path / f"cache-{reduced}") as cache:
            embedded[reduced] = compute_features(paths, replace(backbone, reduced_precision=reduced), cache,
                                                 workers=0).embeddings
    assert not np.array_equal(embedded[True], embedded[False])  # bf16 did run
    cosine = (embedded[True] * embedded[False]).sum(axis=1) / (
        np.linalg.norm(embedded[True], axis=1) * np.linalg.norm(embedded[False], axis=1))
    assert cosine.min() > 0.99


def test_a_rescan_reads_only_the_files_that_changed_since_they_were_read(tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setattr(embed, "SETTLE_SECONDS", 0)
    make_color_folders(tmp_path / "d", per_class=2)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    read = _reads_noted(monkeypatch)
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = compute_features(paths, backbone, cache, workers=0)
        assert sorted(read) == paths  # each file read once: by its decoding worker, which hashes it too
        read.clear()
        again = compute_features(paths, backbone, cache, workers=0)
        assert read == [] and again.content_hashes == first.content_hashes and again.newly_embedded == 0
        changed = paths[0]
        times = os.stat(changed)
        changed.write_bytes(paths[1].read_bytes())  # other content; its modification time is then put back
        os.utime(changed, ns=(times.st_atime_ns, times.st_mtime_ns))
        third = compute_features(paths, backbone, cache, workers=0)
        assert read == [changed] and third.newly_embedded == 0  # its change time gives it away; its content is cached
        assert third.content_hashes[0] == first.content_hashes[1] and third.content_hashes[1:] == first.content_hashes[1:]
        read.clear()
        new = tmp_path / "new.png"
        new.write_bytes(paths[2].read_bytes())
        later = time.time_ns() + 3600 * 10**9
        os.utime(new, ns=(later, later))  # changed "now", within SETTLE_SECONDS, as far as its times tell
        compute_features([*paths, new], backbone, cache, workers=0)
        assert read == [new]
        read.clear()
        compute_features([*paths, new], backbone, cache, workers=0)
        assert read == [new]  # too fresh to be trusted: read again until it settles


def _reads_noted(monkeypatch) -> list:
    """The paths of the files read whole by the decoding workers (`workers=0`: in this process), as they are read
    (the scan itself reads none: it looks at metadata)."""
    from labelfix.features import inference

    read = []
    monkeypatch.setattr(inference, "read_bytes", lambda path, real=inference.read_bytes: read.append(path) or real(path))
    return read


def _decoded_noted(monkeypatch) -> list:
    from labelfix.features import inference

    decoded = []
    monkeypatch.setattr(inference, "open_image", lambda data, at_least=None, real=inference.open_image:
                        decoded.append(data) or real(data, at_least))
    return decoded


def test_a_file_that_fails_to_decode_is_read_and_decoded_once_and_so_are_its_copies(tmp_path, tiny_weights,
                                                                                    monkeypatch):
    make_color_folders(tmp_path / "d", per_class=2)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    for name in ("broken.png", "broken-copy.png"):
        (tmp_path / name).write_bytes(b"no image")
        paths.append(tmp_path / name)
    read, decoded = _reads_noted(monkeypatch), _decoded_noted(monkeypatch)
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        features = compute_features(paths, backbone, cache, workers=0)
    assert sorted(read) == sorted(paths) and len(decoded) == len(paths)
    assert list(features.errors) == [6, 7] and features.newly_embedded == 6
    assert features.errors[6] == features.errors[7] and "not an image" in features.errors[6]


def test_a_copy_of_known_files_is_read_and_hashed_once_and_not_decoded(tmp_path, tiny_weights, monkeypatch):
    make_color_folders(tmp_path / "d", per_class=3)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = compute_features(paths, backbone, cache, workers=0)
        copies = []
        for path in paths:  # new paths, inodes and times: unknown by their metadata
            copies.append(tmp_path / "copy" / path.name)
            copies[-1].parent.mkdir(exist_ok=True)
            copies[-1].write_bytes(path.read_bytes())
        read, decoded = _reads_noted(monkeypatch), _decoded_noted(monkeypatch)
        again = compute_features(copies, backbone, cache, workers=0)
    assert sorted(read) == sorted(copies) and decoded == []
    assert again.newly_embedded == 0 and again.from_cache == len(paths)
    assert again.content_hashes == first.content_hashes
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert again.statistics == first.statistics


def test_a_content_taken_for_a_cached_one_is_decoded_after_all(tmp_path, tiny_weights, monkeypatch):
    """The workers skip contents by the first 64 bits of their hash: one that only shares those with a cached one
    is found missing when looked up, and embedded then; identical new files are each embedded."""
    make_color_folders(tmp_path / "d", per_class=3)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    paths.append(tmp_path / "twin.png")
    paths[-1].write_bytes(paths[0].read_bytes())
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "plain") as cache:
        plain = compute_features(paths, backbone, cache, workers=0)
    assert plain.newly_embedded == 9 and plain.content_hashes[-1] == plain.content_hashes[0]
    lookalikes = [h[:16] + "f" * 16 for h in plain.content_hashes[:4]]  # the same prefixes, other contents
    monkeypatch.setattr(EmbeddingCache, "contents", lambda self, keys, activations_key=None: KnownContents(lookalikes))
    decoded = _decoded_noted(monkeypatch)
    with EmbeddingCache(tmp_path / "other") as cache:
        features = compute_features(paths, backbone, cache, workers=0)
    assert len(decoded) == 5 + 4  # the twin skipped with the four; the four contents decoded after the look-up
    assert features.newly_embedded == 9 and features.from_cache == 0 and not features.errors
    np.testing.assert_allclose(features.embeddings, plain.embeddings, atol=1e-6)  # in other batches
    assert features.content_hashes == plain.content_hashes and features.statistics == plain.statistics


def test_a_file_that_changes_between_its_metadata_and_its_read_gets_the_content_read(tmp_path, tiny_weights,
                                                                                   monkeypatch):
    monkeypatch.setattr(embed, "SETTLE_SECONDS", 0)
    make_color_folders(tmp_path / "d", per_class=2)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    from labelfix.features import inference

    with EmbeddingCache(tmp_path / "cache") as cache:
        compute_features(paths[1:], backbone, cache, workers=0)  # paths[0] not cached; the others' signatures known
        first = compute_features(paths, backbone, cache, workers=0)
        cache._db.execute("DELETE FROM embedding_rows")  # paths[1] must be decoded: it is known by its signature
        cache._db.commit()
        real_read = inference.read_bytes
        monkeypatch.setattr(inference, "read_bytes",
                            lambda path: real_read(paths[2] if path == paths[1] else path))  # paths[1] "changed"
        changed = compute_features(paths, backbone, cache, workers=0)
    assert changed.content_hashes[1] == first.content_hashes[2] and not changed.errors
    np.testing.assert_allclose(changed.embeddings[1], first.embeddings[2], atol=1e-6)


def test_large_jpegs_are_decoded_reduced_and_described_as_stored(tmp_path, tiny_weights, monkeypatch):
    """The decoding workers ask for no more pixels than the resize step needs (32 px here): a 1200 × 800 JPEG comes
    reduced by 8 in the decoder, a 40 × 40 one whole; the statistics keep each file's stored size."""
    from PIL import Image

    from labelfix.features import inference

    sizes = []
    real_open = inference.open_image

    def open_and_note(data, at_least=None):
        image, facts = real_open(data, at_least)
        sizes.append(image.size)
        return image, facts

    monkeypatch.setattr(inference, "open_image", open_and_note)
    paths = [tmp_path / "large.jpg", tmp_path / "small.jpg"]
    Image.new("RGB", (1200, 800), (200, 30, 30)).save(paths[0])
    Image.new("RGB", (40, 40), (30, 200, 30)).save(paths[1])
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        features = compute_features(paths, backbone, cache, workers=0)
    assert sizes == [(150, 100), (40, 40)]
    assert [(s["width"], s["height"]) for s in features.statistics] == [(1200, 800), (40, 40)]


@pytest.mark.parametrize(("seconds_per_item", "threads_used"), [(0.0, False), (0.001, True)])
def test_files_quick_to_read_are_read_by_one_thread_and_slow_ones_by_the_pool(seconds_per_item, threads_used):
    """The first chunk shows how slow the files are; every result comes back in order either way."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    threads = []

    def look(item):
        threads.append(threading.current_thread())
        if seconds_per_item:
            time.sleep(seconds_per_item)
        return item * 2

    items = list(range(embed.HASH_CHUNK * 2 + 3))
    advanced = []
    with ThreadPoolExecutor(2) as pool:
        assert embed._in_chunks(pool, look, items, advanced.append) == [item * 2 for item in items]
    assert sum(advanced) == len(items)
    assert set(threads[: embed.HASH_CHUNK]) == {threading.main_thread()}
    assert (set(threads[embed.HASH_CHUNK :]) != {threading.main_thread()}) == threads_used


def test_a_decoded_batch_is_pinned_whole_where_the_loader_pins(monkeypatch):
    """On CUDA the DataLoader pins each batch (`pin_memory=True`): a `DecodedBatch` pins its pixels, whether stacked
    or a list of differently sized images, and keeps the rest."""
    from torch.utils.data._utils.pin_memory import pin_memory

    from labelfix.features.inference import DecodedBatch

    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda tensor, *args: tensor + 1)  # no CUDA here to pin with
    stacked = DecodedBatch(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0, 1], ["", ""], [{}, {}], {0: "ab"}, [5])
    pinned = pin_memory(stacked)
    assert isinstance(pinned, DecodedBatch) and pinned.pixels.eq(1).all()
    assert (pinned.indices, pinned.content_hashes, pinned.cached) == ([0, 1], {0: "ab"}, [5])
    listed = pin_memory(DecodedBatch([torch.zeros(3, 2, 2), torch.zeros(3, 4, 4)], [0, 1], ["", ""], [{}, {}]))
    assert [image.eq(1).all() for image in listed.pixels] == [True, True]
    assert pin_memory(DecodedBatch(None, [0], ["file not found"], [{}])).pixels is None
