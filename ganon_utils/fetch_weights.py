"""``python -m ganon_utils fetch-weights``: download the published weight files to where the package reads them.

Each file of :data:`ganon_utils.weights.WEIGHT_FILES` is fetched from its official URL (or from a mirror:
``--mirror URL`` or ``$GANON_WEIGHTS_MIRROR``, serving ``URL/<file name>``) into ``<target>.part`` next to
its target. A transfer that was cut short is resumed with an HTTP Range request; the finished file is
checked against the published SHA-256 where one is known and only then renamed onto the target, so a
target path holds either nothing or the whole file. Only the standard library speaks HTTP.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from ganon_utils import __version__
from ganon_utils.cli_arguments import CommandParser
from ganon_utils.weights import WEIGHT_FILES, file_sha256, weight_path

__all__ = [
    "GROUPS",
    "ChecksumMismatchError",
    "DownloadError",
    "cli",
    "download_file",
    "fetch_weight",
    "is_present",
    "resolve_names",
    "source_url",
]

MIRROR_ENV = "GANON_WEIGHTS_MIRROR"
TIMEOUT_S = 60.0  # seconds without an answer (connect or read) before a transfer is given up
CHUNK_BYTES = 1 << 20
USER_AGENT = f"ganon_utils/{__version__} (fetch-weights; Python-urllib)"

GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(WEIGHT_FILES),
    "ganonymization": ("ganonymization_publication", "ganonymization_demo"),
    "paper": (
        "retinaface",
        "head_segmentation",
        "vgg_face",
        "facenet512",
        "convnext_base_imagenet",
        "ganonymization_publication",
    ),
}
"""Names that stand for several weight files."""


class DownloadError(RuntimeError):
    """A weight file could not be fetched; the message is one line naming the file, the URL and the target."""


class ChecksumMismatchError(DownloadError):
    """A file's SHA-256 is not the published one."""


class _TransferFailed(Exception):
    """A transfer went wrong in a way the HTTP library does not report itself (cut short, wrong range)."""


# ----------------------------------------------------------------------------------------------- names


def resolve_names(names: Iterable[str]) -> list[str]:
    """Weight keys for ``names`` (keys or :data:`GROUPS`), in order, each once; ValueError on an unknown name."""
    keys: list[str] = []
    for name in names:
        if name not in WEIGHT_FILES and name not in GROUPS:
            raise ValueError(f"unknown weight name {name!r}; valid names: {', '.join(valid_names())}")
        keys += [key for key in GROUPS.get(name, (name,)) if key not in keys]
    return keys


def valid_names() -> list[str]:
    """Every name :func:`resolve_names` accepts: the groups, then the keys."""
    return [*GROUPS, *WEIGHT_FILES]


def source_url(key: str, mirror: str | None = None) -> str:
    """Where ``key`` is fetched from: ``<mirror>/<file name>`` (``mirror``, else $GANON_WEIGHTS_MIRROR), else its URL."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    target = weight_path(key)
    if mirror:
        return f"{mirror.rstrip('/')}/{quote(target.name)}"
    url = WEIGHT_FILES[key].url
    if url is None:
        raise DownloadError(f"no download URL is known for {target.name}; get it from {WEIGHT_FILES[key].source} "
                            f"and place it at {target}")  # fmt: skip
    return url


def is_present(key: str) -> bool:
    """Whether the weight file ``key`` is at its path (a non-empty file, as ``require_weight`` asks)."""
    path = weight_path(key)
    return path.is_file() and path.stat().st_size > 0


def part_path(target: Path) -> Path:
    """The file a download of ``target`` is written to until it is complete and verified."""
    return target.with_name(target.name + ".part")


# ------------------------------------------------------------------------------------------- checksums


def digest_mismatch(path: Path, sha256: str | None, sha256_prefix: str | None) -> tuple[str, str] | None:
    """(expected, actual) leading hex digits if ``path``'s SHA-256 is not the published one; None if it is or is unknown."""
    expected = (sha256 or sha256_prefix or "").lower()
    if not expected:
        return None
    stat = path.stat()
    actual = file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if (actual == expected) if sha256 else actual.startswith(expected):
        return None
    shown = min(len(expected), 16)
    return expected[:shown], actual[:shown]


def _looks_like_html(path: Path) -> bool:
    """Whether a download is a web page (a login, quota or virus-scan page) rather than a weight file."""
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


# ------------------------------------------------------------------------------------------------ HTTP


def _progress_bar(name: str, total: int | None, initial: int, enabled: bool):
    """A byte-counting progress bar; the one place that knows the progress module."""
    from ganon_utils.progress import progress_bar

    return progress_bar(total=total, initial=initial, desc=name, unit="B", unit_scale=True, disable=not enabled)


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    """GET ``url``, asking for the bytes from ``offset`` on when it is > 0; raises HTTPError for an error status."""
    headers = {"User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _body_start(response: http.client.HTTPResponse) -> int:
    """The byte of the file the response body starts at: 0 for 200, the Content-Range start for 206."""
    if response.status != 206:
        return 0
    content_range = response.headers.get("Content-Range", "")
    try:
        return int(content_range.removeprefix("bytes ").split("-", 1)[0])
    except ValueError:
        raise _TransferFailed(f"the server answered a range request with Content-Range {content_range!r}") from None


def _copy_body(response: http.client.HTTPResponse, handle: BinaryIO, bar) -> int:
    """Append the response body to ``handle`` chunk by chunk; returns the number of bytes copied."""
    copied = 0
    while chunk := response.read(CHUNK_BYTES):
        handle.write(chunk)
        bar.update(len(chunk))
        copied += len(chunk)
    handle.flush()
    os.fsync(handle.fileno())
    return copied


def _transfer(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Fill ``part`` with the file at ``url``, continuing a partial ``part`` when the server supports ranges.

    206 appends to ``part``; 200 (a server without range support) starts it over; 416 (``part`` is not a
    prefix the server can continue) deletes it and starts over. A body shorter than its Content-Length keeps
    what arrived, so the next call resumes from there.
    """
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or offset == 0:
            raise
        error.close()
        part.unlink()
        offset, response = 0, _open(url, 0, timeout)
    with response:
        start = _body_start(response)
        if start not in (0, offset):
            part.unlink(missing_ok=True)
            raise _TransferFailed(f"the server resumed at byte {start}, not {offset} (the partial file was deleted)")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = None if expected is None else start + expected
        name = part.name.removesuffix(".part")
        with open(part, "ab" if start else "wb") as handle, _progress_bar(name, total, start, progress) as bar:
            copied = _copy_body(response, handle, bar)
    if expected is not None and copied < expected:
        raise _TransferFailed(f"the connection closed after {start + copied} of {total} bytes "
                              f"(kept in {part}; rerun to resume)")  # fmt: skip


def _reason(error: BaseException, timeout: float) -> str:
    """A short, one-line reason for a failed transfer."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return " ".join(str(error).split()) or type(error).__name__


_TRANSFER_ERRORS = (OSError, http.client.HTTPException, ValueError, _TransferFailed)


def download_file(
    url: str,
    target: Path,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Download ``url`` to ``target`` via ``<target>.part`` (resumed if present), verified, renamed atomically.

    Raises :class:`DownloadError` (one line, naming the file, the URL and ``target``) when the transfer
    fails, and :class:`ChecksumMismatchError` (the download deleted, nothing at ``target``) when its
    SHA-256 is not ``sha256`` / does not start with ``sha256_prefix``.
    """
    target = Path(target)
    part = part_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _transfer(url, part, progress=progress, timeout=timeout)
    except _TRANSFER_ERRORS as error:
        raise DownloadError(f"cannot download {target.name} from {url}: {_reason(error, timeout)}; "
                            f"download it by hand and place it at {target}") from error  # fmt: skip
    if _looks_like_html(part):
        part.unlink()
        raise DownloadError(f"cannot download {target.name} from {url}: the server sent a web page, not the file; "
                            f"download it by hand in a browser and place it at {target}")  # fmt: skip
    mismatch = digest_mismatch(part, sha256, sha256_prefix)
    if mismatch is not None:
        part.unlink()
        raise ChecksumMismatchError(f"refused {target.name} from {url}: its SHA-256 starts with {mismatch[1]}, the "
                                    f"published file's with {mismatch[0]}; the download was deleted and nothing "
                                    f"was placed at {target}")  # fmt: skip
    os.replace(part, target)
    return target


def fetch_weight(key: str, *, mirror: str | None = None, force: bool = False, progress: bool = True) -> Path:
    """Make the weight file ``key`` present at ``weight_path(key)``; returns that path.

    A present file is kept (and checked against the published SHA-256 where one is known) unless
    ``force``, which downloads it afresh, discarding any partial download.
    """
    entry = WEIGHT_FILES[key]
    target = weight_path(key)
    if is_present(key) and not force:
        mismatch = digest_mismatch(target, entry.sha256, entry.sha256_prefix)
        if mismatch is not None:
            raise ChecksumMismatchError(f"{target} is present but is not the published {entry.description} file: "
                                        f"its SHA-256 starts with {mismatch[1]}, the published file's with "
                                        f"{mismatch[0]}; rerun with --force to replace it")  # fmt: skip
        return target
    if force:
        part_path(target).unlink(missing_ok=True)
    return download_file(source_url(key, mirror), target, sha256=entry.sha256, sha256_prefix=entry.sha256_prefix,
                         progress=progress)  # fmt: skip


# ------------------------------------------------------------------------------------------------- CLI


def describe_weights(mirror: str | None = None) -> list[str]:
    """Lines listing every weight file: name, present or missing, its path and where it is downloaded from."""
    lines = []
    for key in WEIGHT_FILES:
        try:
            url = source_url(key, mirror)
        except DownloadError:
            url = "(no download URL: " + WEIGHT_FILES[key].source + ")"
        state = "present" if is_present(key) else "missing"
        lines += [f"{key:<27} {state:<8} {weight_path(key)}", f"{'':<28}from {url}"]
    groups = "; ".join(f"{name} = {' '.join(keys)}" for name, keys in GROUPS.items() if name != "all")
    lines += ["", f"fetch with: python -m ganon_utils fetch-weights NAME ... (a name above, 'all', or a group: {groups})"]
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m ganon_utils fetch-weights",
        description="Download the published weight files to the paths the package reads them from. "
        "Without NAME: list every file, its path, URL and whether it is present.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"weight files or groups: {', '.join(valid_names())}")
    parser.add_argument("--mirror", metavar="URL", help=f"fetch URL/<file name> instead of the official URL "
                        f"(default: ${MIRROR_ENV} when set)")  # fmt: skip
    parser.add_argument("--force", action="store_true", help="download even when the file is present")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def cli(argv: list[str]) -> int:
    """``python -m ganon_utils fetch-weights [NAME ...]``: 0 if every file is present, 1 if one failed, 2 on bad names."""
    args = _parser().parse_args(argv)
    if not args.names:
        print("\n".join(describe_weights(args.mirror)))
        return 0
    try:
        keys = resolve_names(args.names)
    except ValueError as error:
        print(f"fetch-weights: {error}", file=sys.stderr)
        return 2
    failed = 0
    for key in keys:
        skipped = is_present(key) and not args.force
        try:
            path = fetch_weight(key, mirror=args.mirror, force=args.force, progress=not args.no_progress)
        except DownloadError as error:
            print(f"fetch-weights: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{key}: {'already present at' if skipped else 'downloaded to'} {path}")
    if failed:
        print(f"{failed} of {len(keys)} weight files failed")
    return 1 if failed else 0
