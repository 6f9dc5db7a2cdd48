import numpy as np

from labelfix.features.cache import CachedImage, EmbeddingCache, default_cache_dir


def test_entries_round_trip_per_key_and_survive_reopening(tmp_path):
    vector = np.arange(4, dtype=np.float32)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("model-a", [("hash1", CachedImage(vector, {"width": 3.0}))])
        assert cache.get_many("model-b", ["hash1"]) == {}  # another model or preprocessing: not the same embedding
    with EmbeddingCache(tmp_path) as cache:
        found = cache.get_many("model-a", ["hash1", "hash2", "hash1"])
    assert list(found) == ["hash1"]
    np.testing.assert_array_equal(found["hash1"].vector, vector)
    assert found["hash1"].statistics == {"width": 3.0}


def test_a_later_entry_replaces_an_earlier_one_and_many_keys_are_looked_up_in_chunks(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [(f"h{i}", CachedImage(np.full(2, i, np.float32), {})) for i in range(1200)])
        cache.put_many("m", [("h7", CachedImage(np.zeros(2, np.float32), {"new": 1}))])
        found = cache.get_many("m", [f"h{i}" for i in range(1200)])
    assert len(found) == 1200 and found["h7"].statistics == {"new": 1} and found["h1199"].vector[0] == 1199


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LABELFIX_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("LABELFIX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "labelfix"
