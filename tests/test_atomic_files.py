"""Atomic writes: the destination is either the old complete file or the new complete file."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganon_utils import atomic_files
from ganon_utils.atomic_files import (
    atomic_path,
    save_npy_atomic,
    write_bytes_atomic,
    write_csv_atomic,
    write_text_atomic,
)


def _names(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


class _WriterFailed(RuntimeError):
    pass


def test_atomic_path_yields_hidden_sibling_with_suffix_then_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "face_0.png"
    with atomic_path(target) as temp:
        assert temp.parent == target.parent  # same folder -> same file system -> atomic rename
        assert temp.name.startswith(".") and temp.suffix == ".png"
        assert temp.exists() and not target.exists()
        temp.write_bytes(b"new content")
    assert target.read_bytes() == b"new content"
    assert _names(target.parent) == ["face_0.png"]  # no temporary file left behind


def test_failing_writer_keeps_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "manifest.csv"
    target.write_bytes(b"previous complete file")
    with pytest.raises(_WriterFailed):
        with atomic_path(target) as temp:
            with open(temp, "wb") as handle:
                handle.write(b"half of the new fi")  # partial output, then the writer dies
            raise _WriterFailed
    assert target.read_bytes() == b"previous complete file"
    assert _names(tmp_path) == ["manifest.csv"]


def test_failing_writer_creates_nothing_when_no_previous_file(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):  # an interrupted run, not only ordinary errors
        with atomic_path(tmp_path / "out.npy") as temp:
            temp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_failed_rename_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"data")
    assert _names(tmp_path) == ["taken"]
    assert target.is_dir()


def test_concurrent_writers_use_distinct_temps_and_last_one_wins(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with atomic_path(target) as first:
        with atomic_path(target) as second:
            assert first != second
            second.write_text("second")
        first.write_text("first")
    assert target.read_text() == "first"
    assert _names(tmp_path) == ["a.txt"]


def test_output_gets_umask_permissions_not_private_temp_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "x.bin", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "x.bin").stat().st_mode) == 0o644


def test_writer_choosing_format_by_suffix_works_on_temp(tmp_path: Path) -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    with atomic_path(tmp_path / "img.png") as temp:
        Image.fromarray(pixels).save(temp)  # Pillow picks PNG from the temp's suffix
    with Image.open(tmp_path / "img.png") as image:
        assert image.format == "PNG"
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_write_bytes_and_text_are_exact(tmp_path: Path) -> None:
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\xff\r\n")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff\r\n"
    write_text_atomic(tmp_path / "t.txt", "caf\u00e9\r\nline\n")
    assert (tmp_path / "t.txt").read_bytes() == "caf\u00e9\r\nline\n".encode()
    write_text_atomic(tmp_path / "t.txt", "replaced")
    assert (tmp_path / "t.txt").read_text() == "replaced"


def test_write_csv_round_trips_without_index(tmp_path: Path) -> None:
    df = pd.DataFrame({"image_id": ["a_jpg", "b_png"], "status": ["ok", "no_face"], "faces": [1, 0]}, index=[7, 9])
    write_csv_atomic(tmp_path / "m.csv", df)
    text = (tmp_path / "m.csv").read_text()
    assert text == "image_id,status,faces\na_jpg,ok,1\nb_png,no_face,0\n"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "m.csv"), df.reset_index(drop=True))


def test_write_csv_compresses_by_suffix(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": range(50)})
    write_csv_atomic(tmp_path / "m.csv.gz", df)
    raw = (tmp_path / "m.csv.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw).decode().splitlines()[:2] == ["x", "0"]


def test_save_npy_writes_exact_path_and_round_trips(tmp_path: Path) -> None:
    landmarks = np.random.default_rng(0).random((478, 3)).astype(np.float32)
    save_npy_atomic(tmp_path / "face.landmarks", landmarks)  # not ending in .npy: np.save would add it
    assert _names(tmp_path) == ["face.landmarks"]
    loaded = np.load(tmp_path / "face.landmarks", allow_pickle=False)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, landmarks)


def test_save_npy_refuses_object_arrays_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    assert _names(tmp_path) == []


def test_fsync_flushes_file_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic_files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic_files.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_bytes_atomic(tmp_path / "d.bin", b"durable")
    assert events[:2] == ["fsync", "replace"]
    events.clear()
    write_bytes_atomic(tmp_path / "f.bin", b"fast", fsync=False)
    assert events == ["replace"]
