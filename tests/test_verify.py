"""`labelfix verify`: the scan's definition of a bad file, in parallel, bad files moved (never deleted), oversize
images listed and shrunk only when asked, exit 1 when anything is bad."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

import labelfix
from helpers import color_image, file_states, run_cli
from labelfix.errors import ConfigError
from labelfix.verify import move_bad_files, verify_folder

BAD = {"a/empty.png": "unreadable", "a/truncated.jpg": "unreadable", "b/page.jpg": "unreadable",
       "b/png_inside.jpg": "invalid", "b/tiny.png": "invalid"}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    for label, color in (("a", (200, 40, 40)), ("b", (40, 40, 200))):
        (root / label).mkdir(parents=True)
        for i in range(6):
            color_image(color, i).save(root / label / f"{label}{i}.png")
    (root / "a" / "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    color_image((200, 40, 40), 9, size=64).save(buffer, format="JPEG")
    (root / "a" / "truncated.jpg").write_bytes(buffer.getvalue()[:300])
    (root / "b" / "page.jpg").write_text("<html>not found</html>")
    color_image((40, 40, 200), 9).save(root / "b" / "png_inside.jpg", format="PNG")
    color_image((40, 40, 200), 10, size=8).save(root / "b" / "tiny.png")
    Image.new("RGB", (800, 600), (40, 40, 200)).save(root / "b" / "large.jpg", quality=90)
    return root


def test_verify_and_scan_share_one_definition_of_a_bad_file(folder, tmp_path):
    checks = verify_folder(folder, workers=0)
    assert {check.relative: check.kind for check in checks if check.bad} == BAD
    table = labelfix.scan(folder, out=tmp_path / "run", folds=2, workers=0).issues
    for kind in ("unreadable", "invalid"):
        assert set(table.loc[table[f"is_{kind}_issue"], "path"]) == {p for p, k in BAD.items() if k == kind}


def test_many_files_are_checked_in_parallel_with_the_same_result(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(70):
        color_image((i * 3, 100, 100), i, size=24).save(root / f"{i:02d}.png")
    (root / "broken.png").write_bytes(b"\x89PNG broken")
    assert verify_folder(root, workers=2) == verify_folder(root, workers=0)


def test_the_command_exits_1_moves_bad_files_out_and_then_exits_0(folder, tmp_path):
    result, output = run_cli("verify", folder, "--no-progress")
    assert result.exit_code == 1 and "3 unreadable, 2 invalid" in result.stdout
    before = file_states(folder)
    result, _ = run_cli("verify", folder, "--no-progress", "--move-bad-to", tmp_path / "quarantine")
    assert result.exit_code == 1  # what it found is still reported as found
    moved = list(csv.DictReader(open(tmp_path / "quarantine" / "moved.csv")))
    assert {row["kind"] for row in moved} == {"unreadable", "invalid"} and len(moved) == 5
    for relative in BAD:  # moved, byte for byte, never deleted
        assert not (folder / relative).exists()
        assert (tmp_path / "quarantine" / relative).read_bytes() == before[folder / relative][0]
    result, _ = run_cli("verify", folder, "--no-progress")
    assert result.exit_code == 0 and "0 unreadable, 0 invalid" in result.stdout
    with pytest.raises(ConfigError, match="inside the dataset"):
        move_bad_files(verify_folder(folder, workers=0), folder, folder / "quarantine")


def test_oversize_images_are_listed_and_shrunk_only_when_asked(folder):
    large = folder / "b" / "large.jpg"
    before = large.read_bytes()
    result, _ = run_cli("verify", folder, "--no-progress", "--max-size", 500)
    assert "oversize: 800x600" in result.stdout and large.read_bytes() == before
    result, output = run_cli("verify", folder, "--no-progress", "--resize")
    assert result.exit_code == 1 and "--resize needs --max-size" in output
    run_cli("verify", folder, "--no-progress", "--max-size", 500, "--resize")
    with Image.open(large) as image:
        assert image.size == (500, 375) and image.format == "JPEG"
