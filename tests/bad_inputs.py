"""A corpus of awkward input files built from one real face photo, with the outcome each must have.

Used by the image-reading tests and the preprocessing tests: every file must
become exactly its status, and none may stop a run. Build it with
:func:`make_bad_input_corpus`; :data:`CORPUS` describes each file, and
:data:`PREPROCESS_STATUSES` gives the manifest status the preprocessing stage
must record (equal to the read status except where the file reads fine but
holds no face).

The builders are deterministic: the same face gives the same bytes.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CORPUS",
    "EXIF_ORIENTATION",
    "PREPROCESS_STATUSES",
    "READ_STATUSES",
    "CorpusCase",
    "alpha_mask",
    "face_grey16",
    "face_rgb16",
    "make_bad_input_corpus",
    "no_face_texture",
]

#: EXIF orientation written into the rotated JPEG: 6 = "rotate 90 degrees clockwise to view".
EXIF_ORIENTATION = 6
TOO_LARGE_SIDE = 9000  # 81 million pixels: above load_image's default max_pixels (40 million)


# ---------------------------------------------------------------------------
# Pixel content
# ---------------------------------------------------------------------------


def face_grey16(face_rgb: np.ndarray) -> np.ndarray:
    """The face's luminance as uint16 over the full 0..65535 range (fractional 8-bit levels kept)."""
    weights = np.array([0.299, 0.587, 0.114])
    luminance = face_rgb.astype(np.float64) @ weights  # 0..255, not integral
    return np.rint(luminance * (65535.0 / 255.0)).astype(np.uint16)


def face_rgb16(face_rgb: np.ndarray) -> np.ndarray:
    """The face as 16-bit RGB: each 8-bit level times 257 plus a fixed low-order ripple of +-96."""
    height, width, _ = face_rgb.shape
    ripple = ((np.arange(height)[:, None, None] * 7 + np.arange(width)[None, :, None] * 13 + np.arange(3)) % 193) - 96
    wide = face_rgb.astype(np.int64) * 257 + ripple
    return np.clip(wide, 0, 65535).astype(np.uint16)


def alpha_mask(height: int, width: int) -> np.ndarray:
    """Opaque centred ellipse (where a portrait's face is), a soft edge, transparent corners (uint8)."""
    rows = (np.arange(height) + 0.5 - height / 2) / (0.46 * height)
    cols = (np.arange(width) + 0.5 - width / 2) / (0.40 * width)
    radius = np.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)
    ramp = np.clip((1.12 - radius) / 0.12, 0.0, 1.0)  # 1 inside radius 1, 0 beyond 1.12
    return np.rint(ramp * 255.0).astype(np.uint8)


def no_face_texture(height: int = 384, width: int = 512) -> np.ndarray:
    """A smooth colour gradient with a gentle wave: a readable photo-like image containing no face."""
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (1.5 * x + 0.7 * y))
    channels = [0.55 * x + 0.25 * wave + 0.1, 0.5 * y + 0.3 * wave + 0.1, 0.7 - 0.4 * x * y + 0.1 * wave]
    return np.rint(np.clip(np.stack(np.broadcast_arrays(*channels), axis=-1), 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Encoders (bytes out)
# ---------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _jpeg(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face), "JPEG", quality=95)


def _png(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face), "PNG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_rgb16(values: np.ndarray) -> bytes:
    """A 48-bit (16 bits per channel) RGB PNG; Pillow cannot write one, so it is assembled here."""
    height, width, _ = values.shape
    rows = values.astype(">u2").reshape(height, width * 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw, 6)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _exif_rotated_jpeg(face: np.ndarray) -> bytes:
    """Pixels stored turned 90 degrees anticlockwise, tagged orientation 6 so viewers turn them back."""
    stored = np.ascontiguousarray(np.rot90(face, k=1))
    exif = Image.Exif()
    exif[0x0112] = EXIF_ORIENTATION
    return _encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def _rgba_png(face: np.ndarray) -> bytes:
    alpha = alpha_mask(*face.shape[:2])
    return _encode(Image.fromarray(np.dstack([face, alpha])), "PNG")


def _cmyk_jpeg(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face).convert("CMYK"), "JPEG", quality=95)


def _grey_jpeg(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face).convert("L"), "JPEG", quality=95)


def _grey16_png(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face_grey16(face)), "PNG")


def _palette_png(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(face).quantize(256), "PNG")  # adaptive 256-colour palette


def _first_half(build: Callable[[np.ndarray], bytes]) -> Callable[[np.ndarray], bytes]:
    def truncated(face: np.ndarray) -> bytes:
        complete = build(face)
        return complete[: len(complete) // 2]

    return truncated


def _tiny_png(face: np.ndarray) -> bytes:
    return _encode(Image.fromarray(np.ascontiguousarray(face[:1, :1])), "PNG")


def _text(face: np.ndarray) -> bytes:
    return b"This is a text file, not a JPEG.\n" * 20


def _no_face_png(face: np.ndarray) -> bytes:
    return _png(no_face_texture())


def _too_large_png(face: np.ndarray) -> bytes:
    return _encode(Image.new("L", (TOO_LARGE_SIDE, TOO_LARGE_SIDE), 128), "PNG")


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusCase:
    """One corpus file: its name, how to build it from the face, and the outcomes it must have."""

    name: str
    read_status: str  # ImageStatus value from ganon_utils.image_io.load_image
    preprocess_status: str  # manifest status from the preprocessing stage
    what: str
    build: Callable[[np.ndarray], bytes]


def _case(
    name: str, read_status: str, what: str, build: Callable[[np.ndarray], bytes], preprocess: str | None = None
) -> CorpusCase:
    return CorpusCase(name, read_status, preprocess or read_status, what, build)


CORPUS: tuple[CorpusCase, ...] = (
    _case("face.jpg", "ok", "the face as a plain RGB JPEG (control)", _jpeg),
    _case("empty.jpg", "empty_file", "zero bytes", lambda face: b""),
    _case("truncated.jpg", "truncated", "a JPEG of the face cut in half", _first_half(_jpeg)),
    _case("truncated.png", "truncated", "a PNG of the face cut in half", _first_half(_png)),
    _case("text.jpg", "not_an_image", "a text file named .jpg", _text),
    _case("cmyk.jpg", "ok", "the face as a CMYK JPEG (Adobe inverted)", _cmyk_jpeg),
    _case("grey16.png", "ok", "the face's luminance as a 16-bit greyscale PNG", _grey16_png),
    _case("rgb16.png", "ok", "the face as a 48-bit RGB PNG", lambda face: _png_rgb16(face_rgb16(face))),
    _case("rgba.png", "ok", "the face as RGBA: opaque ellipse over the face, transparent corners", _rgba_png),
    _case("grey.jpg", "ok", "the face as an 8-bit greyscale JPEG", _grey_jpeg),
    _case("palette.png", "ok", "the face as a 256-colour palette PNG", _palette_png),
    _case("jpeg_named.png", "ok", "a JPEG file with a .png suffix (content decides)", _jpeg),
    _case("UPPER_CASE.JPG", "ok", "upper-case suffix", _jpeg),
    _case("exif_rotated.jpg", "ok", "pixels stored rotated 90 degrees with EXIF orientation 6", _exif_rotated_jpeg),
    _case("tiny_1x1.png", "too_small", "a 1x1 PNG", _tiny_png),
    _case("no_face.png", "ok", "a smooth gradient with no face in it", _no_face_png, preprocess="no_face"),
    _case("too_large.png", "too_large", f"a {TOO_LARGE_SIDE}x{TOO_LARGE_SIDE} grey PNG (81 Mpixel)", _too_large_png),
)

#: File name -> expected ``load_image`` outcome ("ok" or an ImageStatus value).
READ_STATUSES: dict[str, str] = {case.name: case.read_status for case in CORPUS}
#: File name -> expected preprocessing manifest status (differs from READ_STATUSES only for no_face.png).
PREPROCESS_STATUSES: dict[str, str] = {case.name: case.preprocess_status for case in CORPUS}


def make_bad_input_corpus(folder: Path, face_rgb: np.ndarray) -> dict[str, str]:
    """Write every corpus file into ``folder`` (created if needed) and return name -> expected read status.

    ``face_rgb`` is a real face photo, (H, W, 3) uint8 with H, W >= 64, e.g.
    ``skimage.data.astronaut()``.
    """
    face = np.ascontiguousarray(face_rgb)
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3 or min(face.shape[:2]) < 64:
        raise ValueError(f"face_rgb must be (H, W, 3) uint8 with H, W >= 64, got {face.shape} {face.dtype}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for case in CORPUS:
        (folder / case.name).write_bytes(case.build(face))
    return dict(READ_STATUSES)
