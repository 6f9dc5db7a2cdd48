"""Decode any image file people have into an RGB PIL image, or say exactly why it cannot be read."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class UnreadableImage(Exception):
    """The file cannot be used as an image; the message says why (no path: the caller adds it)."""


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImage("file not found") from None
    except OSError as error:
        raise UnreadableImage(f"cannot read the file ({error.strerror or error})") from None


def content_hash(data: bytes) -> str:
    """Stable hash of a file's bytes (hex, 32 characters)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def open_image(data: bytes, at_least: int | None = None) -> tuple[Image.Image, dict]:
    """Decode bytes into an RGB image with EXIF orientation applied (first frame of animations).

    Also returns facts about the file as stored: `format` (PIL's name), `frames`, `mode`, and `width` and `height`
    (EXIF orientation applied). With `at_least`, a JPEG at least twice that long on both sides is decoded reduced (by
    2, 4 or 8, in the decoder) while both sides stay at least `at_least`: a 12-megapixel photo decodes 4x faster
    and the image is 64x smaller to resize, hash and measure, but its pixels differ from a full decode's (by about
    what a box filter's reduction would give) and the image is smaller than `width` × `height`.
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        facts = {"format": image.format or "", "frames": int(getattr(image, "n_frames", 1)), "mode": image.mode}
        stored = image.size
        image.seek(0)
        if at_least is not None and image.format == "JPEG":
            image.draft("RGB", (at_least, at_least))
        image.load()
    except Image.DecompressionBombError as error:
        raise UnreadableImage(f"too many pixels to decode safely ({error})") from None
    except UnidentifiedImageError:
        raise UnreadableImage("not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UnreadableImage(f"corrupt or truncated image ({error})") from None
    decoded = image.size
    try:
        ImageOps.exif_transpose(image, in_place=True)  # not in place, an unrotated image is copied whole
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose an otherwise good image
        pass
    turned = image.size != decoded  # a quarter turn swaps the sides (a square image's sides are equal anyway)
    facts["width"], facts["height"] = stored[::-1] if turned else stored
    return to_rgb(image), facts


def decode_image(data: bytes) -> Image.Image:
    """Decode bytes into an RGB image (see `open_image`)."""
    return open_image(data)[0]


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert grayscale, palette, CMYK, 16-bit and alpha images to 8-bit RGB (alpha over white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        high = float(pixels.max()) if pixels.size else 0.0
        if image.mode == "F":
            scale = 255.0 / max(high, 1e-12)
        else:  # 16-bit data, also when PIL reports it as 32-bit "I"
            scale = 255.0 / 65535.0 if image.mode.startswith("I;16") or high > 255 else 1.0
        image = Image.fromarray(np.clip(pixels * scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


SHOWN_AS_STORED_BYTES = 48_000  # a small JPEG up to this long is its own thumbnail (see `thumbnail_jpeg`)


def thumbnail_jpeg(path: Path, size: int = 160) -> bytes | None:
    """The image shrunk to fit `size`×`size` as JPEG bytes (EXIF-rotated), or None when it cannot be read. A
    JPEG that already fits and that a browser shows as it is (`_shown_as_stored`) is its own thumbnail: its bytes
    as they are (a CIFAR image: 30 µs instead of 206 µs, and no second compression)."""
    try:
        data = read_bytes(path)
        if len(data) <= SHOWN_AS_STORED_BYTES and _shown_as_stored(data, size):
            return data
        image, _ = open_image(data, at_least=2 * size)  # a 12-megapixel JPEG: 149 → 36 ms
    except UnreadableImage:
        return None
    image.thumbnail((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _shown_as_stored(data: bytes, size: int) -> bool:
    """Whether these bytes, as they are, show in a browser as the thumbnail would: a JPEG within `size`, grey or
    colour (3 components), baseline or progressive Huffman coding (browsers decode no arithmetic coding), with no
    segment but the ones that describe its pixels: no EXIF (so no turn to apply, and no camera data or location
    carried into a report that people share), XMP or comment."""
    frame = _jpeg_frame(data)
    return (frame is not None and frame[0] in (0xC0, 0xC1, 0xC2) and max(frame[1:3]) <= size
            and frame[3] in (1, 3))


PIXEL_SEGMENTS = {0xE0, 0xE2, 0xEE, 0xDB, 0xC4, 0xDD}  # JFIF, ICC profile, Adobe, quantisation, Huffman, restarts


def _jpeg_frame(data: bytes) -> tuple[int, int, int, int] | None:
    """(start-of-frame marker's second byte: 0xC0 baseline, 0xC2 progressive, ...; width; height; components) of a
    JPEG whose segments before its frame are all among PIXEL_SEGMENTS; None for anything else."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # not DHT, JPG, DAC
            header = data[at + 4 : at + 10]
            if len(header) < 6:
                return None
            return marker, int.from_bytes(header[3:5], "big"), int.from_bytes(header[1:3], "big"), header[5]
        if marker not in PIXEL_SEGMENTS:
            return None
        at += 2 + length
    return None


def thumbnail_data_uri(path: Path, size: int = 160) -> str | None:
    """A small JPEG of the image as a data: URI, or None when it cannot be read."""
    data = thumbnail_jpeg(path, size)
    return None if data is None else "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def shrunk(data: bytes, max_side: int) -> bytes | None:
    """The image re-encoded in its own format with its longer side `max_side` (JPEG/WebP keep their EXIF), or None
    when it is no larger than that."""
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= max_side:
            return None
        image_format = image.format
        options = {"quality": 95, "exif": image.info.get("exif", b"")} if image_format in ("JPEG", "WEBP") else {}
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format=image_format, **options)
        return buffer.getvalue()
