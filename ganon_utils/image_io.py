"""Robust image reading and metadata-free writing for the pipeline.

Every input image is read through :func:`load_image`, which either returns an
upright 8-bit RGB array (and the list of conversions it applied) or raises
:class:`ImageLoadError` with a :class:`ImageStatus` the preprocessing stage
records in its manifest. Bad input never escapes as an arbitrary exception,
and inputs are only ever opened read-only.

Outputs are written by :func:`save_png` through :mod:`ganon_utils.atomic_files`,
with no metadata (EXIF, ICC, text chunks) so nothing of an original leaks into
an anonymised face.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ganon_utils.atomic_files import write_bytes_atomic
from ganon_utils.stages import PathLike

__all__ = [
    "ACCEPTED_FORMATS",
    "IMAGE_SUFFIXES",
    "ImageLoadError",
    "ImageStatus",
    "InputFile",
    "LoadedImage",
    "frame_count",
    "image_id_for",
    "list_images",
    "list_input_files",
    "content_sha256",
    "encode_photo",
    "encode_png",
    "image_format",
    "load_image",
    "photo_format",
    "photo_output_name",
    "save_photo",
    "save_png",
]

_LOG = logging.getLogger(__name__)

#: Suffixes (lower case) the pipeline treats as images; matched case-insensitively.
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Pillow formats load_image accepts, whatever the file's suffix. Formats that hand the
#: file to external programs (EPS -> Ghostscript) or are rarely photos are left out.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF", "PPM")

_EXIF_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


class ImageStatus(str, Enum):
    """Outcome of reading one input image (the manifest's ``status`` column for read failures)."""

    OK = "ok"
    MISSING = "missing"  # the path does not exist (e.g. a dangling symlink)
    EMPTY_FILE = "empty_file"  # zero bytes
    NOT_AN_IMAGE = "not_an_image"  # no image format recognises the content
    TRUNCATED = "truncated"  # a recognised image whose data ends early
    CORRUPT = "corrupt"  # a recognised image whose data cannot be decoded
    UNSUPPORTED = "unsupported"  # decodes, but its pixel format has no RGB conversion
    TOO_LARGE = "too_large"  # more pixels than allowed (checked before decoding)
    TOO_SMALL = "too_small"  # shorter side below the minimum
    UNREADABLE = "unreadable"  # the operating system refused to read it (permission, I/O error, a folder)

    def __str__(self) -> str:  # so f-strings and CSV cells show "ok", not "ImageStatus.OK"
        return self.value


class ImageLoadError(Exception):
    """Reading an image failed; ``status`` says why in one word, the message names the file and the cause."""

    def __init__(self, path: PathLike, status: ImageStatus, cause: str) -> None:
        self.path = Path(path)
        self.status = status
        self.cause = cause
        super().__init__(f"{self.path}: {status.value}: {cause}")


@dataclass(frozen=True)
class LoadedImage:
    """An upright 8-bit RGB image and what was done to the file's pixels to get it.

    ``rgb`` has shape (H, W, 3), dtype uint8, C-contiguous. ``conversions`` lists
    the steps in order, e.g. ``("exif_transpose:6", "cmyk_to_rgb")``; it is empty
    for a plain upright 8-bit RGB file.
    """

    rgb: np.ndarray
    conversions: tuple[str, ...]


# ---------------------------------------------------------------------------
# Pixel-format conversions (functional core: PIL image in, RGB array out)
# ---------------------------------------------------------------------------


def _scale_16bit_to_8bit(values: np.ndarray) -> np.ndarray:
    """Map 0..65535 linearly onto 0..255 with rounding (65535 -> 255, 257 -> 1), no clipping."""
    wide = values.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _int_image_to_grey8(image: Image.Image) -> tuple[np.ndarray, str]:
    """Convert a 16-bit or 32-bit integer greyscale image to 8 bits.

    16-bit modes, and 32-bit ``I`` images whose values fit in 0..65535 (Pillow
    decodes some 16-bit files as ``I``), are scaled over the full 16-bit range.
    Other ``I`` images are stretched from their own minimum and maximum.
    """
    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        return _scale_16bit_to_8bit(values.astype(np.uint16, copy=False)), "16bit_to_8bit"
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 0xFFFF:
        return _scale_16bit_to_8bit(values), "16bit_to_8bit"
    return _stretch_to_8bit(values.astype(np.float64), low, high), "int32_minmax_to_8bit"


def _float_image_to_grey8(image: Image.Image) -> tuple[np.ndarray, str]:
    """Convert a float greyscale image: 0..1 data is scaled by 255, anything else min-max stretched."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    if low >= 0.0 and high <= 1.0:
        return np.rint(values * 255.0).astype(np.uint8), "float_to_8bit"
    return _stretch_to_8bit(values, low, high), "float_minmax_to_8bit"


def _stretch_to_8bit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linearly map [low, high] onto [0, 255] (a constant image maps to 0)."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).clip(0, 255).astype(np.uint8)


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """Blend straight-alpha RGBA over black: rgb * alpha / 255, rounded."""
    rgb = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def _has_palette_transparency(image: Image.Image) -> bool:
    return "transparency" in image.info or (image.palette is not None and image.palette.mode == "RGBA")


def _to_rgb8(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Convert a decoded Pillow image of any supported mode to an (H, W, 3) uint8 array.

    Raises ``ValueError`` for a mode with no conversion to RGB.
    """
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image), []
    if mode in ("L", "1"):
        return _grey_to_rgb(np.asarray(image.convert("L"))), ["grey_to_rgb"]
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        grey, step = _int_image_to_grey8(image)
        return _grey_to_rgb(grey), [step, "grey_to_rgb"]
    if mode == "F":
        grey, step = _float_image_to_grey8(image)
        return _grey_to_rgb(grey), [step, "grey_to_rgb"]
    if mode == "CMYK":
        return np.asarray(image.convert("RGB")), ["cmyk_to_rgb"]
    if mode == "P":
        if _has_palette_transparency(image):
            rgba = np.asarray(image.convert("RGBA"))
            return _composite_on_black(rgba), ["palette_to_rgb", "alpha_composited_on_black"]
        return np.asarray(image.convert("RGB")), ["palette_to_rgb"]
    if mode in _ALPHA_MODES:
        steps = ["palette_to_rgb"] if mode == "PA" else []
        if mode in ("LA", "La"):
            steps.append("grey_to_rgb")
        rgba = np.asarray(image.convert("RGBA"))
        return _composite_on_black(rgba), [*steps, "alpha_composited_on_black"]
    # YCbCr, LAB, HSV and anything Pillow can convert; ValueError otherwise.
    return np.asarray(image.convert("RGB")), [f"{mode.lower().replace(';', '')}_to_rgb"]


def _high_bit_depth_rgb(image: Image.Image) -> bool:
    """True for multi-channel 16-bit files that Pillow decodes to 8 bits (e.g. a 48-bit PNG)."""
    tile = getattr(image, "tile", None)  # set by the image file plugins, not by Image.Image itself
    if image.mode not in ("RGB", "RGBA") or not tile:
        return False
    rawmode = tile[0].args[0] if isinstance(tile[0].args, tuple) else tile[0].args
    return isinstance(rawmode, str) and ";16" in rawmode


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _decode_error_status(error: BaseException) -> ImageStatus:
    """Classify an exception raised by Pillow while parsing or decoding a recognised image."""
    if isinstance(error, Image.DecompressionBombError):
        return ImageStatus.TOO_LARGE
    if isinstance(error, EOFError) or "truncat" in str(error).lower():
        return ImageStatus.TRUNCATED
    if isinstance(error, OSError) and error.errno is not None:
        return ImageStatus.UNREADABLE
    if isinstance(error, ValueError) and "too large" in str(error).lower():
        return ImageStatus.TOO_LARGE  # e.g. PNG text chunks over Pillow's safety limit
    return ImageStatus.CORRUPT


def _exif_orientation(image: Image.Image) -> int | None:
    """The EXIF orientation tag (1-8) or None when absent or unparsable."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG)
    except Exception:  # malformed EXIF must not make a readable image unreadable
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _upright(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Apply the EXIF orientation so the image appears as the camera intended."""
    orientation = _exif_orientation(image)
    if orientation is None or orientation == 1:
        return image, []
    try:
        transposed = ImageOps.exif_transpose(image)
    except Exception as error:  # keep the pixels as stored, but say so
        _LOG.warning("EXIF orientation %s of %s not applied: %s", orientation, image, error)
        return image, ["exif_transpose_failed"]
    return (transposed if transposed is not None else image), [f"exif_transpose:{orientation}"]


def _open_readonly(path: Path) -> io.BufferedReader:
    """Open ``path`` for reading only (the single place input files are opened)."""
    return open(path, "rb")


def load_image(path: PathLike, *, max_pixels: int = 40_000_000, min_side: int = 32, frame: int | None = None) -> LoadedImage:
    """Read an image file as upright 8-bit RGB, or raise :class:`ImageLoadError`.

    Order of checks: existence and readability, zero bytes, format recognition,
    pixel count from the header (``> max_pixels`` is refused *before* decoding),
    shorter side (``< min_side`` refused), full decode (a file that ends early is
    ``TRUNCATED``; ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False), then EXIF
    orientation and conversion of greyscale, palette, CMYK, 16-bit, float and
    alpha images (composited on black) to RGB. Multi-frame files give their
    first frame, or frame ``frame`` (0-based; :func:`frame_count` says how many).
    A file Pillow does not recognise is tried with OpenCV (EXR, HDR, ... where
    OpenCV reads them). The file is opened read-only and closed before returning.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError(path, ImageStatus.MISSING, "no such file (or a dangling link)") from None
    except OSError as error:
        raise ImageLoadError(path, ImageStatus.UNREADABLE, f"cannot stat: {error.strerror or error}") from error
    if path.is_dir():
        raise ImageLoadError(path, ImageStatus.UNREADABLE, "is a folder, not a file")
    if size == 0:
        raise ImageLoadError(path, ImageStatus.EMPTY_FILE, "the file has zero bytes")

    try:
        handle = _open_readonly(path)
    except OSError as error:
        raise ImageLoadError(path, ImageStatus.UNREADABLE, f"cannot open: {error.strerror or error}") from error
    with handle:
        return _read_open_image(path, handle, max_pixels=max_pixels, min_side=min_side, frame=frame)


def _read_with_opencv(path: Path, data: bytes, *, max_pixels: int, min_side: int) -> LoadedImage | None:
    """Decode ``data`` with OpenCV (formats Pillow lacks), as 8-bit RGB; None when OpenCV cannot either."""
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if decoded is None or decoded.size == 0:
        return None
    height, width = decoded.shape[:2]
    if width * height > max_pixels:
        raise ImageLoadError(
            path, ImageStatus.TOO_LARGE, f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}"
        )
    if min(width, height) < min_side:
        raise ImageLoadError(path, ImageStatus.TOO_SMALL, f"{width}x{height}: shorter side is below min_side={min_side}")
    conversions = ["read_with_opencv"]
    if decoded.dtype == np.uint16:
        decoded = _scale_16bit_to_8bit(decoded)
        conversions.append("16bit_to_8bit")
    elif decoded.dtype != np.uint8:  # float (HDR, EXR): values in [0, 1] shown as they are, the rest clipped
        decoded = np.clip(np.nan_to_num(decoded.astype(np.float64)) * 255.0, 0, 255).round().astype(np.uint8)
        conversions.append("float_to_8bit_clipped")
    if decoded.ndim == 2:
        rgb = _grey_to_rgb(decoded)
    elif decoded.shape[2] == 4:
        rgb = _composite_on_black(cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA))
        conversions.append("alpha_composited_on_black")
    else:
        rgb = cv2.cvtColor(decoded[..., :3], cv2.COLOR_BGR2RGB)
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.uint8), conversions=tuple(conversions))


def _read_open_image(
    path: Path, handle: io.BufferedReader, *, max_pixels: int, min_side: int, frame: int | None = None
) -> LoadedImage:
    """Identify, size-check, decode and convert an image from an open file."""
    try:
        image = Image.open(handle, formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        handle.seek(0)
        fallback = _read_with_opencv(path, handle.read(), max_pixels=max_pixels, min_side=min_side)
        if fallback is not None:
            return fallback
        accepted = ", ".join(ACCEPTED_FORMATS)
        raise ImageLoadError(path, ImageStatus.NOT_AN_IMAGE, f"not recognised as any of {accepted} (nor by OpenCV)") from None
    except Exception as error:  # recognised format whose header fails to parse
        status = _decode_error_status(error)
        raise ImageLoadError(path, status, f"{type(error).__name__}: {error}") from error

    with image:
        width, height = image.size
        if width * height > max_pixels:
            cause = f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}"
            raise ImageLoadError(path, ImageStatus.TOO_LARGE, cause)
        if min(width, height) < min_side:
            cause = f"{width}x{height}: shorter side is below min_side={min_side}"
            raise ImageLoadError(path, ImageStatus.TOO_SMALL, cause)

        conversions: list[str] = []
        try:
            frames = getattr(image, "n_frames", 1)
            if frame is not None and not 0 <= frame < frames:
                raise ImageLoadError(path, ImageStatus.MISSING, f"frame {frame} asked for, the file has {frames}")
            if frames > 1:
                image.seek(frame or 0)
                conversions.append(f"frame_{frame}_of:{frames}" if frame is not None else f"first_frame_of:{frames}")
            high_bit_depth = _high_bit_depth_rgb(image)
            image.load()  # force the full decode here, inside the try
        except Exception as error:
            status = _decode_error_status(error)
            raise ImageLoadError(path, status, f"{type(error).__name__}: {error}") from error

        upright, steps = _upright(image)
        conversions.extend(steps)
        try:
            rgb, steps = _to_rgb8(upright)
        except (ValueError, OSError) as error:
            raise ImageLoadError(
                path, ImageStatus.UNSUPPORTED, f"pixel mode {upright.mode!r} has no RGB conversion: {error}"
            ) from error
        if high_bit_depth:
            steps.insert(0, "16bit_to_8bit")
        conversions.extend(steps)

    rgb = np.array(rgb, dtype=np.uint8, order="C", copy=True)
    return LoadedImage(rgb=rgb, conversions=tuple(conversions))


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


PNG_COMPRESS_LEVEL = 1  # zlib level of every PNG the stages write (see encode_png)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an (H, W, 3) RGB or (H, W) greyscale uint8 array as PNG bytes without metadata.

    Only IHDR, IDAT and IEND chunks are written, with a fixed compression level,
    so the same array always gives the same bytes (for a given zlib). Level 1: on a
    512 px face it encodes in 18 ms against 40 ms at zlib's default 6, for files 9%
    larger (the encoding was a third of stage 01's time per face).
    """
    if pixels.dtype != np.uint8:
        raise TypeError(f"save_png expects uint8 pixels, got {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"save_png expects an (H, W, 3) or (H, W) array, got shape {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"save_png cannot write an empty image of shape {pixels.shape}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


def save_png(path: PathLike, rgb: np.ndarray) -> None:
    """Write an 8-bit RGB (H, W, 3) or greyscale (H, W) array as a metadata-free PNG, atomically."""
    write_bytes_atomic(path, encode_png(rgb))


PHOTO_FORMATS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 95},
    "PNG": {"compress_level": 6, "optimize": False},
    "WEBP": {"quality": 95},
    "TIFF": {"compression": "tiff_deflate"},
    "BMP": {},
}
"""Formats a whole anonymised photo is written in, with their encoder settings (JPEG at quality 95)."""
PHOTO_FORMAT_ALIASES = {"MPO": "JPEG"}
"""Pillow reads cameras' multi-picture JPEGs as MPO; they are written as plain JPEG."""
FALLBACK_PHOTO_FORMAT = "PNG"


def frame_count(path: PathLike) -> int:
    """How many frames or pages a file holds (TIFF pages, GIF / WebP frames; 1 for any other file, also for one
    that is not an image), read from its header."""
    try:
        with _open_readonly(Path(path)) as handle, Image.open(handle, formats=ACCEPTED_FORMATS) as image:
            return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:  # anything unreadable is one input, whose reading then reports the problem
        return 1


def content_sha256(path: PathLike) -> str | None:
    """Hex SHA-256 of a file's bytes (read-only), or None when it cannot be read: what "the same input" means
    when a stage decides whether earlier work still holds (names and timestamps can lie, content cannot)."""
    digest = hashlib.sha256()
    try:
        with _open_readonly(Path(path)) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def image_format(path: PathLike) -> str | None:
    """The format Pillow recognises in ``path`` from its header (``"JPEG"``, ``"PNG"``, ...), None if none."""
    try:
        with _open_readonly(Path(path)) as handle, Image.open(handle, formats=ACCEPTED_FORMATS) as image:
            return image.format
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def photo_format(input_format: str | None) -> str:
    """The format an anonymised photo is written in: the input's (:data:`PHOTO_FORMATS`), else PNG."""
    name = PHOTO_FORMAT_ALIASES.get(str(input_format).upper(), str(input_format).upper())
    return name if name in PHOTO_FORMATS else FALLBACK_PHOTO_FORMAT


def photo_output_name(relative_path: str, input_format: str | None, frame: int | None = None) -> str:
    """Where an anonymised photo goes, relative to its output folder: the input's relative path, with ``.png``
    appended when the input's format cannot be written (``scan.gif`` -> ``scan.gif.png``); a frame of a
    multi-frame file becomes its own PNG (``scan.tif`` frame 2 -> ``scan.tif.frame2.png``)."""
    if frame is not None:
        return f"{relative_path}.frame{frame}.{FALLBACK_PHOTO_FORMAT.lower()}"
    name = str(input_format).upper()
    kept = PHOTO_FORMAT_ALIASES.get(name, name) == photo_format(input_format)
    return relative_path if kept else f"{relative_path}.{FALLBACK_PHOTO_FORMAT.lower()}"


def encode_photo(rgb: np.ndarray, format: str) -> bytes:
    """An (H, W, 3) uint8 RGB photo encoded in ``format`` (:data:`PHOTO_FORMATS`) without any metadata
    (no EXIF, ICC profile or text; JPEG at quality 95)."""
    if format == "PNG":
        return encode_png(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_photo expects an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format=format, **PHOTO_FORMATS[format])
    return buffer.getvalue()


def save_photo(path: PathLike, rgb: np.ndarray, format: str) -> None:
    """Write a metadata-free photo in ``format`` atomically."""
    write_bytes_atomic(path, encode_photo(rgb, format))


# ---------------------------------------------------------------------------
# Naming and listing
# ---------------------------------------------------------------------------

_PLAIN_WORD = r"[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*"
_PLAIN_FOLDER = re.compile(_PLAIN_WORD)
_PLAIN_FILE = re.compile(rf"({_PLAIN_WORD})\.([A-Za-z0-9]+)")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9-]")
_MAX_READABLE_ID = 150  # leaves room for "_<face-k>.png" under the usual 255-byte name limit


def image_id_for(relative_path: PathLike) -> str:
    """A filesystem-safe id, unique per relative path, that stays readable.

    Folders are joined with ``__`` and the extension is kept after ``_``:
    ``"portraits/img_01.jpg" -> "portraits__img_01_jpg"``. Such ids are used
    as is when every folder and file stem consists of ASCII letters, digits and
    ``-`` joined by single ``_``; those ids cannot collide with each other. Any
    other path (spaces, dots in the stem, ``__``, non-ASCII, very long, no
    extension) gets its unsafe characters replaced by ``_`` plus ``-`` and 10 hex
    digits of the path's SHA-256 (``"portraits/a b.jpg" ->
    "portraits__a_b_jpg-<hash>"``), so e.g. ``"a b.jpg"`` and ``"a_b.jpg"`` differ.
    Only ``[A-Za-z0-9_.-]`` appear in the id.
    """
    posix = PurePosixPath(PurePath(relative_path).as_posix())
    parts = posix.parts
    if not parts or posix.is_absolute() or any(part in ("..", "") for part in parts):
        raise ValueError(f"image_id_for expects a relative path inside the input folder, got {relative_path!r}")

    plain_file = _PLAIN_FILE.fullmatch(parts[-1])
    if plain_file and all(_PLAIN_FOLDER.fullmatch(part) for part in parts[:-1]):
        readable = "__".join([*parts[:-1], f"{plain_file.group(1)}_{plain_file.group(2)}"])
        if len(readable) <= _MAX_READABLE_ID:
            return readable

    slug = "__".join(_UNSAFE_CHAR.sub("_", part) for part in parts)[:_MAX_READABLE_ID]
    digest = hashlib.sha256(posix.as_posix().encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{slug}-{digest}"


SKIPPED_HIDDEN = "skipped_hidden"
SKIPPED_SYMLINK_DIR = "skipped_symlink_dir"


@dataclass(frozen=True)
class InputFile:
    """One entry under an input folder: a file to read, or one skipped on purpose (``skip_status``, why)."""

    relative_path: str
    skip_status: str = ""
    reason: str = ""


def list_input_files(folder: PathLike) -> list[InputFile]:
    """Every file under ``folder`` (recursive, sorted as :func:`list_images`), whatever its name or extension.

    Unlike :func:`list_images`, nothing is left out silently: a file in a hidden place (a name starting with a dot,
    or inside a hidden folder) is listed with status ``skipped_hidden``, a symbolic link to a folder (never followed)
    with ``skipped_symlink_dir``; every other entry is to be read, and reading says whether it is an image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"input folder not found: {root}")

    def report(error: OSError) -> None:
        _LOG.warning("skipping unreadable folder %s: %s", error.filename, error.strerror or error)

    found: list[tuple[tuple[str, ...], InputFile]] = []
    for current, folders, files in os.walk(root, onerror=report):
        relative = Path(current).relative_to(root).parts
        hidden_here = any(part.startswith(".") for part in relative)
        for name in list(folders):
            if Path(current, name).is_symlink():
                folders.remove(name)
                parts = (*relative, name)
                found.append((parts, InputFile("/".join(parts), SKIPPED_SYMLINK_DIR,
                                               "a link to a folder: not followed (pass the folder itself to read it)")))  # fmt: skip
        for name in files:
            parts = (*relative, name)
            if hidden_here or name.startswith("."):
                found.append((parts, InputFile("/".join(parts), SKIPPED_HIDDEN, "hidden file or folder: not read")))
            else:
                found.append((parts, InputFile("/".join(parts))))
    return [entry for _, entry in sorted(found, key=lambda item: item[0])]


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: PathLike) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted by relative path.

    A file counts as an image by its suffix (:data:`IMAGE_SUFFIXES`, any case),
    not its content: a broken ``.jpg`` is listed so that reading it yields a
    status. Hidden files and folders (leading dot) are skipped, folder symlinks
    are not followed, and folders named like images are not listed. Sorting is
    by the tuple of path components, so the order is the same on every system.
    Returned paths are ``folder / relative_path``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")

    def report(error: OSError) -> None:
        _LOG.warning("skipping unreadable folder %s: %s", error.filename, error.strerror or error)

    found: list[tuple[str, ...]] = []
    for current, folders, files in os.walk(root, onerror=report):
        folders[:] = [name for name in folders if not name.startswith(".")]
        relative = Path(current).relative_to(root).parts
        found.extend((*relative, name) for name in files if _is_image_name(name))
    return [root.joinpath(*parts) for parts in sorted(found)]
