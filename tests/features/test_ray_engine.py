"""`--engine ray`: the local engine's embeddings, statistics and issues.csv from a local Ray (2 CPUs), a resume
after an interruption, and a message naming the install command where Ray is missing."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelfix
from helpers import make_color_folders, run_cli
from labelfix import pipeline
from labelfix.features.embed import compute_features
from labelfix.features.ray_engine import _embedder_placement

TOLERANCE = 1e-5  # embeddings on the CPU; the Ray engine batches as the local one does, so they come out bit-identical


class Interrupted(Exception):
    pass


class StopAfterFirstBatch:
    """Progress that interrupts the scan once the first embedded batch is cached."""

    @contextmanager
    def task(self, description: str, total: int | None):
        def advance(steps: int = 1) -> None:
            if description == "embed":
                raise Interrupted

        yield advance


@dataclass
class Scans:
    local: labelfix.ScanResult
    resumed: labelfix.ScanResult  # the Ray scan after an interrupted one, with the same cache
    features: dict  # "local" / "resumed" -> the scan's Features


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "labelfix[ray]"')
    try:
        # 3 logical CPUs: one backbone replica (see _embedder_placement) and a spare, since the interrupted scan's
        # replica may still hold a CPU while the next scan starts (Ray Data stops it asynchronously); with 2, the next
        # scan's decode tasks waited for it forever on a busy machine
        ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as error:  # noqa: BLE001 - whatever stops Ray from starting, the engine cannot be tested here
        pytest.skip(f"a local Ray cannot start here: {error}")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def scans(local_ray, tmp_path_factory, tiny_weights) -> Scans:
    """24 colour images and an unreadable file, scanned by the local engine, then by Ray: once interrupted after
    its first batch, then again with the same cache."""
    base = tmp_path_factory.mktemp("ray-engine")
    root = base / "colors"
    make_color_folders(root, per_class=8, flips={"red": "blue", "green": "red"})
    (root / "red" / "broken.png").write_bytes(b"not a png")
    options = dict(model="test_efficientnet", weights=tiny_weights, image_size=32, folds=3, workers=0, batch_size=8)
    features = []

    def recorded(*args, **kwargs):
        features.append(compute_features(*args, **kwargs))
        return features[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "compute_features", recorded)
        local = labelfix.scan(root, out=base / "local", cache_dir=base / "local-cache", **options)
        with pytest.raises(Interrupted):
            labelfix.scan(root, out=base / "stopped", cache_dir=base / "ray-cache", engine="ray",
                          progress=StopAfterFirstBatch(), **options)
        resumed = labelfix.scan(root, out=base / "ray", cache_dir=base / "ray-cache", engine="ray", **options)
    return Scans(local, resumed, {"local": features[0], "resumed": features[-1]})


def test_an_interrupted_ray_scan_embeds_only_the_images_it_had_not_cached(scans):
    counts = scans.resumed.record["counts"]
    assert 1 <= counts["from_cache"] <= 8  # the first batch, cached before the interruption
    assert counts["from_cache"] + counts["embedded"] == 24
    assert scans.resumed.record["config"]["embedding"]["engine"] == "ray"


def test_ray_gives_the_local_engines_embeddings_statistics_and_errors(scans):
    local, resumed = scans.features["local"], scans.features["resumed"]
    np.testing.assert_allclose(resumed.embeddings, local.embeddings, rtol=0, atol=TOLERANCE)
    assert resumed.statistics == local.statistics
    assert "prediction_entropy" in local.statistics[0]
    assert resumed.errors == local.errors and len(local.errors) == 1


def test_ray_writes_the_local_engines_issues_csv(scans):
    local = pd.read_csv(scans.local.run_dir / "issues.csv")
    resumed = pd.read_csv(scans.resumed.run_dir / "issues.csv")
    pd.testing.assert_frame_equal(resumed, local, check_exact=False, rtol=0, atol=TOLERANCE)


def test_scan_with_engine_ray_and_no_ray_says_how_to_install_it(tmp_path, monkeypatch):
    make_color_folders(tmp_path / "d", per_class=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result, output = run_cli("scan", tmp_path / "d", "--engine", "ray", "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 1, output
    assert 'pip install "labelfix[ray]"' in output and "Traceback" not in output
    assert not Path(tmp_path / "run").exists()  # said before any work


def test_an_unknown_engine_is_named_by_its_flag(tmp_path):
    make_color_folders(tmp_path / "d", per_class=2)
    result, output = run_cli("scan", tmp_path / "d", "--engine", "spark", "--out", tmp_path / "run")
    assert result.exit_code != 0 and "--engine" in output, output


def test_one_backbone_replica_per_gpu_else_one_per_two_cpus():
    assert _embedder_placement({"CPU": 32, "GPU": 4}) == (4, {"num_gpus": 1}, "cuda")
    assert _embedder_placement({"CPU": 16}) == (8, {"num_cpus": 1}, "cpu")
    assert _embedder_placement({"CPU": 1}) == (1, {"num_cpus": 1}, "cpu")


def test_on_ray_the_decode_tasks_read_and_hash_the_files_and_skip_cached_contents(local_ray, tmp_path, tiny_weights,
                                                                                 monkeypatch):
    from labelfix.backbones import load_backbone, with_input_size
    from labelfix.features import inference
    from labelfix.features.cache import EmbeddingCache

    make_color_folders(tmp_path / "d", per_class=3)
    paths = sorted((tmp_path / "d").rglob("*.png"))
    copies = [tmp_path / "copy" / path.name for path in paths]  # new paths: unknown by their metadata
    (tmp_path / "copy").mkdir()
    for path, copy in zip(paths, copies):
        copy.write_bytes(path.read_bytes())
    read_here = []
    monkeypatch.setattr(inference, "read_bytes", lambda path: read_here.append(path))
    backbone = with_input_size(load_backbone("test_efficientnet", tiny_weights), 32)
    with EmbeddingCache(tmp_path / "cache") as cache:
        first = compute_features(paths, backbone, cache, engine="ray", batch_size=4)
        again = compute_features(copies, backbone, cache, engine="ray", batch_size=4)
    assert read_here == []  # the driver reads no file
    assert first.newly_embedded == 9 and not first.errors and all(first.content_hashes)
    assert again.newly_embedded == 0 and again.from_cache == 9 and again.content_hashes == first.content_hashes
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
