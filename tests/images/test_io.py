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
