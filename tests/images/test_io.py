import io

import numpy as np
import pytest
from PIL import Image

from labelfix.images.io import UnreadableImage, content_hash, decode_image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


RGB = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_formats_decode_to_rgb(fmt):
    image = decode_image(_encode(RGB, fmt))
    assert image.mode == "RGB" and image.size == (30, 20)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "CMYK", "P", "1", "I;16", "I", "F"])
def test_modes_convert_to_rgb(mode):
    source = RGB.convert(mode) if mode not in ("I;16", "I", "F") else Image.fromarray(
        (np.arange(600).reshape(20, 30) * 100).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode])
    )
    fmt = {"CMYK": "JPEG", "F": "TIFF", "I": "TIFF"}.get(mode, "PNG")
    image = decode_image(_encode(source, fmt))
    assert image.mode == "RGB"
    assert np.asarray(image).max() > 100  # 16-bit data is scaled, not clipped to black or white


def test_alpha_is_composited_on_white():
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(decode_image(_encode(transparent, "PNG")))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    data = _encode(RGB, "JPEG", exif=exif.tobytes())
    assert decode_image(data).size == (20, 30)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(decode_image(buffer.getvalue()))[0, 0].tolist()[0] > 200


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"this is not an image", "not an image file"),
        (_encode(RGB, "JPEG")[:200], "corrupt or truncated"),
        (_encode(RGB, "PNG")[:80], "corrupt or truncated"),
    ],
)
def test_unreadable_data_says_why(data, reason):
    with pytest.raises(UnreadableImage, match=reason):
        decode_image(data)


def test_content_hash_depends_on_bytes_only():
    assert content_hash(b"abc") == content_hash(b"abc") != content_hash(b"abd")


def test_previews_of_large_jpegs_are_decoded_reduced_but_keep_their_orientation(tmp_path):
    from labelfix.images.io import open_image, thumbnail_jpeg

    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(Image.new("RGB", (2000, 1000), (200, 30, 30)), "JPEG", exif=exif.tobytes())
    assert open_image(data)[0].size == (1000, 2000)  # every pixel
    assert open_image(data, at_least=320)[0].size == (500, 1000)  # reduced by 2 in the decoder
    (tmp_path / "big.jpg").write_bytes(data)
    preview = Image.open(io.BytesIO(thumbnail_jpeg(tmp_path / "big.jpg", 160)))
    assert preview.size == (80, 160) and abs(preview.getpixel((40, 80))[0] - 200) < 8


def _turned() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


@pytest.mark.parametrize(("name", "data", "as_stored", "size"), [
    ("baseline.jpg", _encode(RGB, "JPEG"), True, (30, 20)),
    ("progressive.jpg", _encode(RGB, "JPEG", progressive=True), True, (30, 20)),
    ("grey.jpg", _encode(RGB.convert("L"), "JPEG"), True, (30, 20)),
    ("turned.jpg", _encode(RGB, "JPEG", exif=_turned()), False, (20, 30)),  # shown upright, its EXIF left out
    ("commented.jpg", _encode(RGB, "JPEG", comment=b"taken at home"), False, (30, 20)),
    ("cmyk.jpg", _encode(RGB.convert("CMYK"), "JPEG"), False, (30, 20)),  # browsers show CMYK oddly
    ("large.jpg", _encode(RGB.resize((300, 200)), "JPEG"), False, (160, 107)),
    ("small.png", _encode(RGB, "PNG"), False, (30, 20)),
])
def test_a_small_upright_jpeg_is_its_own_thumbnail(tmp_path, name, data, as_stored, size):
    from labelfix.images.io import thumbnail_jpeg

    (tmp_path / name).write_bytes(data)
    thumbnail = thumbnail_jpeg(tmp_path / name, 160)
    assert (thumbnail == data) is as_stored
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.format == "JPEG" and image.size == size and image.mode in ("RGB", "L")


def test_jpeg_frames_browsers_cannot_decode_are_told_apart():
    from labelfix.images.io import _jpeg_frame, _shown_as_stored

    baseline = _encode(RGB, "JPEG")
    assert _jpeg_frame(baseline) == (0xC0, 30, 20, 3) and _jpeg_frame(_encode(RGB, "JPEG", progressive=True))[0] == 0xC2
    start = baseline.index(b"\xff\xc0")
    arithmetic = baseline[:start] + b"\xff\xc9" + baseline[start + 2 :]  # the same frame, marked arithmetic-coded
    assert _jpeg_frame(arithmetic)[0] == 0xC9 and not _shown_as_stored(arithmetic, 160)
    assert _jpeg_frame(b"\xff\xd8\xff\xda\x00\x02") is None and _jpeg_frame(baseline[: start + 6]) is None


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_jpeg_decoded_reduced_keeps_its_stored_size_among_the_facts(orientation):
    """Sides at least `at_least` long, by 1, 2, 4 or 8; `width` and `height` stay the stored image's, turned as EXIF
    says; other formats and small JPEGs decode whole."""
    from labelfix.images.io import open_image

    exif = Image.Exif()
    exif[0x0112] = orientation
    big = Image.new("RGB", (2000, 1200), (200, 30, 30))
    turned = orientation == 6
    for at_least, decoded in ((None, (2000, 1200)), (600, (1000, 600)), (256, (500, 300)), (100, (250, 150))):
        image, facts = open_image(_encode(big, "JPEG", exif=exif.tobytes()), at_least)
        assert image.size == (decoded[::-1] if turned else decoded)
        assert (facts["width"], facts["height"]) == ((1200, 2000) if turned else (2000, 1200))
    assert open_image(_encode(big, "PNG"), 100)[0].size == (2000, 1200)
    assert open_image(_encode(Image.new("RGB", (500, 300)), "JPEG"), 256)[0].size == (500, 300)  # not twice 256
