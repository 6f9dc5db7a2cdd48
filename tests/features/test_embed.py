"""compute_features: embeddings and activations cached by content, resumed where they stopped."""

from dataclasses import replace

import numpy as np

from helpers import make_color_folders
from labelfix.backbones import load_backbone, with_input_size
from labelfix.features.cache import EmbeddingCache
from labelfix.features.embed import compute_features


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
