import numpy as np
import pytest

from labelfix.features.cache import CACHE_FILE, CachedImage, EmbeddingCache, default_cache_dir


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


def _entry(value: float) -> CachedImage:
    return CachedImage(np.full(4, value, np.float32), {"width": 3.0})


def test_altered_bytes_are_left_out_and_computed_again(tmp_path, caplog):
    import sqlite3

    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [("a", _entry(1)), ("b", _entry(2))])
        cache.put_activations("m", [("a", np.ones((2, 3), np.float16))])
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("UPDATE embedding_rows SET vector = ? WHERE content_hash = 'a'", (np.full(4, 9, np.float32).tobytes(),))
        db.execute("UPDATE activations SET activation = ? WHERE content_hash = 'a'", (np.zeros((2, 3), np.float16).tobytes(),))
    with EmbeddingCache(tmp_path) as cache:
        assert list(cache.get_many("m", ["a", "b"])) == ["b"] and cache.get_activations("m", ["a"]) == {}
        assert cache.discarded == 2
    assert "does not match its checksum" in caplog.text


def test_a_file_that_is_not_a_database_is_set_aside_and_started_afresh(tmp_path, caplog):
    (tmp_path / CACHE_FILE).write_bytes(b"this is not SQLite" * 100)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [("a", _entry(1))])
        assert list(cache.get_many("m", ["a"])) == ["a"]
    broken = [p for p in tmp_path.iterdir() if ".broken-" in p.name]
    assert len(broken) == 1 and broken[0].read_bytes().startswith(b"this is not SQLite")  # kept, not deleted
    assert "could not be read" in caplog.text and str(broken[0]) in caplog.text


def test_a_cache_damaged_while_in_use_is_started_afresh(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [(f"h{i}", _entry(i)) for i in range(2000)])
    with EmbeddingCache(tmp_path) as cache:
        data = bytearray((tmp_path / CACHE_FILE).read_bytes())
        data[4096:len(data) - 4096] = b"\x00\xff" * ((len(data) - 8192) // 2)  # every page but the first and last
        (tmp_path / CACHE_FILE).write_bytes(bytes(data))
        assert cache.get_many("m", [f"h{i}" for i in range(2000)]) == {}
        cache.put_many("m", [("new", _entry(1))])
        assert list(cache.get_many("m", ["new"])) == ["new"]


def test_rows_of_the_table_before_checksums_are_taken_over(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("CREATE TABLE decoded (backbone TEXT, content_hash TEXT, vector BLOB, statistics TEXT)")
        db.execute("INSERT INTO decoded VALUES ('m', 'a', ?, '{}')", (np.ones(4, np.float32).tobytes(),))
    with EmbeddingCache(tmp_path) as cache:
        np.testing.assert_array_equal(cache.get_many("m", ["a"])["a"].vector, np.ones(4))


def test_the_embeddings_table_of_earlier_versions_is_read_and_new_rows_go_to_the_rowid_table(tmp_path):
    import sqlite3

    from labelfix.features.cache import checksum

    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("CREATE TABLE embeddings (backbone TEXT NOT NULL, content_hash TEXT NOT NULL, vector BLOB NOT NULL, "
                   "statistics TEXT NOT NULL, checksum TEXT NOT NULL, PRIMARY KEY (backbone, content_hash)) WITHOUT ROWID")
        for h, value in (("old", 1), ("both", 2)):
            blob = np.full(4, value, np.float32).tobytes()
            db.execute("INSERT INTO embeddings VALUES ('m', ?, ?, '{}', ?)", (h, blob, checksum(blob, b"{}")))
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [("both", _entry(3)), ("new", _entry(4))])
        found = cache.get_many("m", ["old", "both", "new", "none"])
        assert {h: float(entry.vector[0]) for h, entry in found.items()} == {"old": 1, "both": 3, "new": 4}
        assert cache._db.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (2,)  # read, never written


def test_rows_written_behind_are_committed_when_the_block_ends_even_after_an_error(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        with pytest.raises(KeyboardInterrupt), cache.writing_behind():
            cache.put_many("m", [(f"h{i}", _entry(i)) for i in range(300)])
            cache.put_activations("a", [("h0", np.ones((2, 3), np.float16))])
            raise KeyboardInterrupt  # Ctrl-C while embedding
    with EmbeddingCache(tmp_path) as cache:
        assert len(cache.get_many("m", [f"h{i}" for i in range(300)])) == 300
        assert cache.get_activations("a", ["h0"])["h0"].shape == (2, 3)


def test_a_cache_damaged_while_written_behind_is_started_afresh_with_the_rows_not_yet_written(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("m", [(f"h{i}", _entry(i)) for i in range(2000)])
    with EmbeddingCache(tmp_path) as cache:
        data = bytearray((tmp_path / CACHE_FILE).read_bytes())
        data[4096:len(data) - 4096] = b"\x00\xff" * ((len(data) - 8192) // 2)
        (tmp_path / CACHE_FILE).write_bytes(bytes(data))
        with cache.writing_behind():
            cache.put_many("m", [("new", _entry(1))])
        assert list(cache.get_many("m", ["new"])) == ["new"]


def test_file_contents_are_found_for_the_signature_they_were_recorded_with_only(tmp_path):
    with EmbeddingCache(tmp_path) as cache:
        cache.record_contents([(b"/d/a.png", "10:1:1:7:1", "hash-a"), (b"/d/\xff.png", "20:2:2:8:1", "hash-b")])
        assert cache.contents_of_unchanged({b"/d/a.png": "10:1:1:7:1", b"/d/\xff.png": "20:2:2:8:1", b"/d/c.png": "1"}) == {
            b"/d/a.png": "hash-a", b"/d/\xff.png": "hash-b"}
        assert cache.contents_of_unchanged({b"/d/a.png": "10:1:5:7:1"}) == {}  # changed since
        cache._db.execute("UPDATE files SET content_hash = 'other' WHERE path = ?", (b"/d/a.png",))
        cache._db.commit()
        assert cache.contents_of_unchanged({b"/d/a.png": "10:1:1:7:1"}) == {}  # altered row: read the file again
        assert cache.discarded == 1
