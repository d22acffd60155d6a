"""The anonymisation stage: stage-01 faces -> one folder of anonymised faces per method.

Output folder layout (``OUTPUT/<method>/``)::

    config.json                     the settings the folder was made with (a folder resumes only with the same)
    <split>/<face_id>.png           anonymised face, same face id and size as stage 01, no metadata
    manifest.csv                    one row per stage-01 face: face_id, image_id, split, method, status,
                                    message, face_path (relative to OUTPUT/<method>), source, source_sha256
                                    (the SHA-256 of what the face was made from)

Face statuses: ``ok``; ``average_face`` (GANonymization of a face without landmarks: synthesised from a
black landmark image, the paper's "average face"); ``missing`` / ``ambiguous`` / ``unreadable`` (external
methods: no file, several files, or an unreadable file for that face id); ``skipped`` (stage 01 wrote no
face image, e.g. ``too_small``); ``error`` (a stage-01 face image could not be read).

Every file is written atomically; a rerun skips faces whose output exists and was made from the same input
(the stage-01 face, its landmarks for GANonymization, or the external file: ``source_sha256``), so an
interrupted run resumes and a face whose input changed is made again. A run holds the method folder's lock and
removes the temporary files of a killed run. The generator is loaded once per call and only when some face still
needs it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ganon_utils.anonymize.external import (
    EXTERNAL_METHODS,
    check_method_name,
    find_external_face,
    index_external_faces,
)
from ganon_utils.anonymize.methods import FaceMethod, builtin_method
from ganon_utils.anonymize.synthesis import (
    AUTO,
    GANONYMIZATION,
    CompileChoice,
    FaceSynthesizer,
    file_sha256,
    require_checkpoint,
    resolve_compile,
)
from ganon_utils.atomic_files import folder_lock, remove_stale_temporaries, write_csv_atomic, write_text_atomic
from ganon_utils.devices import resolve_device
from ganon_utils.image_io import ImageLoadError, content_sha256, load_image, save_png
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.run_settings import setting_changes
from ganon_utils.stages import (
    FACE_OK,
    STATUS_AVERAGE_FACE,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_PENDING,
    STATUS_SKIPPED,
    STATUS_UNREADABLE,
    PathLike,
)

AVERAGE_FACE_MESSAGE = "no landmarks in stage 01: synthesised from a black landmark image (average face)"
MANIFEST_COLUMNS = ["face_id", "image_id", "split", "method", "status", "message", "face_path", "source", "source_sha256"]

# ---------------------------------------------------------------------------------------------------
# Reading stage 01 and choosing the method
# ---------------------------------------------------------------------------------------------------


def method_kind(method: str, external_dir: PathLike | None = None) -> str:
    """``"ganonymization"``, ``"baseline"`` (pixel<N>, blur<K>) or ``"external"`` (a folder of faces)."""
    check_method_name(method)
    if method == GANONYMIZATION:
        if external_dir is not None:
            raise ValueError("external_dir is for external methods, not for ganonymization")
        return GANONYMIZATION
    if builtin_method(method) is not None:
        if external_dir is not None:
            raise ValueError(f"{method} is a built-in method; external_dir is for external methods only")
        return "baseline"
    if external_dir is not None or method in EXTERNAL_METHODS:
        return "external"
    registered = ", ".join(sorted(EXTERNAL_METHODS)) or "none"
    raise ValueError(
        f"unknown method {method!r}: use ganonymization, pixel8, pixel16, blur9, blur17 (any pixel<N> / blur<odd K>), "
        f"or an external method with a folder of faces (external_dir=..., or register_external; registered: {registered})"
    )


def external_folder(method: str, external_dir: PathLike | None) -> Path:
    """The folder of an external method's faces (``external_dir`` or the registered one)."""
    folder = Path(external_dir) if external_dir is not None else EXTERNAL_METHODS[method]
    if not folder.is_dir():
        raise FileNotFoundError(f"folder of {method} faces not found: {folder}")
    return folder.resolve()


def holds_outputs(method_dir: Path) -> bool:
    """True when a method folder holds anything besides its config.json and tables (i.e. made images)."""
    bookkeeping = {"config.json", "manifest.csv", "photos.csv"}
    return any(path.is_file() and path.name not in bookkeeping and not path.name.startswith(".")  # lock, temporaries
               for path in method_dir.rglob("*"))  # fmt: skip


def check_settings(method_dir: Path, settings: dict[str, Any], *, replace_stale: bool = False) -> None:
    """Write config.json into a new method folder; a folder made with other settings is refused, or
    with ``replace_stale`` deleted and started afresh (its faces would not match the new settings).

    A folder whose earlier run wrote its settings but no image (e.g. it stopped on a broken checkpoint) holds
    nothing made with them: its config.json is replaced, so a good checkpoint is not refused afterwards."""
    path = method_dir / "config.json"
    if path.is_file():
        existing = json.loads(path.read_text())
        changed = setting_changes(existing, settings)
        recorded, given = existing.get("input_folder"), settings.get("input_folder")
        if recorded and given and recorded != given and not replace_stale and holds_outputs(method_dir):
            raise ValueError(
                f"{method_dir} holds what was made from another input folder; use another output folder for this "
                "input (photos named alike in two folders must not share an output), or --replace-stale to replace it"
            )
        if changed and not holds_outputs(method_dir):
            path.unlink()
        elif changed:
            if not replace_stale or existing.get("method") != settings.get("method"):
                raise ValueError(
                    f"{method_dir} was made with different settings ({'; '.join(changed)}); use another output "
                    "folder, delete this one, or pass replace_stale=True (--replace-stale) to start it afresh"
                )
            shutil.rmtree(method_dir)
    if not path.is_file():
        method_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True))


def output_face_path(split: str, face_id: str) -> str:
    """Path of an anonymised face relative to its method folder."""
    return f"{split}/{face_id}.png"


def _io_threads() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _progress(total: int, method: str, enabled: bool):
    from ganon_utils.progress import progress_bar

    return progress_bar(total=total, desc=f"anonymize {method}", unit="face", disable=not enabled)


# ---------------------------------------------------------------------------------------------------
# The three kinds of method, each on the faces still to do
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Face:
    """One stage-01 face still to anonymise and its manifest row (updated in place)."""

    row: dict[str, Any]
    face_path: str  # stage-01 image, relative to the stage-01 folder
    landmarks_path: str  # stage-01 landmarks ("" when none were found)


def _load_landmarks(preprocess_dir: Path, face: _Face) -> np.ndarray | None:
    if not face.landmarks_path:
        return None
    return np.load(preprocess_dir / face.landmarks_path, allow_pickle=False)


def _synthesize_all(
    faces: Sequence[_Face],
    preprocess_dir: Path,
    method_dir: Path,
    synthesizer: FaceSynthesizer,
    *,
    batch_size: int,
    face_size: int,
    advance: Callable[[int], Any],
) -> None:
    """GANonymization for every face, batched; landmark loading and PNG writing overlap the generator."""

    def inputs(batch: Sequence[_Face]) -> np.ndarray:
        return synthesizer.landmark_images([_load_landmarks(preprocess_dir, face) for face in batch], face_size)

    batches = _chunks(faces, batch_size)
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=_io_threads()) as pool:
        upcoming: Future = pool.submit(inputs, batches[0])
        writes: deque[Future] = deque()
        for index, batch in enumerate(batches):
            images = upcoming.result()
            if index + 1 < len(batches):
                upcoming = pool.submit(inputs, batches[index + 1])
            for face, output in zip(batch, synthesizer.synthesize(images, face_size)):
                writes.append(pool.submit(save_png, method_dir / face.row["face_path"], output))
                if face.landmarks_path:
                    face.row.update(status=STATUS_OK)
                else:
                    face.row.update(status=STATUS_AVERAGE_FACE, message=AVERAGE_FACE_MESSAGE)
            while len(writes) > 2 * batch_size:
                writes.popleft().result()
            advance(len(batch))
        for write in writes:
            write.result()


def _apply_baseline(faces: Sequence[_Face], preprocess_dir: Path, method_dir: Path, function: FaceMethod, advance) -> None:
    """A baseline (pixelation, blur) on every face, in a thread pool (OpenCV and PNG coding release the GIL)."""

    def one(face: _Face) -> None:
        try:
            rgb = load_image(preprocess_dir / face.face_path).rgb
        except ImageLoadError as error:
            face.row.update(status=STATUS_ERROR, message=f"stage-01 face unreadable: {error}", face_path="")
            return
        save_png(method_dir / face.row["face_path"], function(rgb))
        face.row.update(status=STATUS_OK)

    with ThreadPoolExecutor(max_workers=_io_threads()) as pool:
        for _ in pool.map(one, faces):
            advance(1)


def fit_face(rgb: np.ndarray, face_size: int) -> np.ndarray:
    """``rgb`` resized to ``face_size`` x ``face_size`` (area when shrinking, cubic when enlarging)."""
    if rgb.shape[:2] == (face_size, face_size):
        return rgb
    shrinking = max(rgb.shape[:2]) > face_size
    return cv2.resize(rgb, (face_size, face_size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _copy_external(
    faces: Sequence[_Face], folder: Path, index: dict[str, list[Path]], method_dir: Path, face_size: int, advance
) -> None:
    """Read each face's file from an external folder, fit it to the stage-01 size, write it without metadata."""

    def one(face: _Face) -> None:
        row = face.row
        path, status, message = find_external_face(index, row["face_id"], row["split"])
        if path is None:
            row.update(status=status, message=message, face_path="")
            return
        row["source"] = path.relative_to(folder).as_posix()
        try:
            rgb = load_image(path).rgb
        except ImageLoadError as error:
            row.update(status=STATUS_UNREADABLE, message=str(error), face_path="")
            return
        if rgb.shape[:2] != (face_size, face_size):
            row["message"] = f"resized from {rgb.shape[1]}x{rgb.shape[0]} to {face_size}x{face_size}"
        save_png(method_dir / row["face_path"], fit_face(rgb, face_size))
        row["status"] = STATUS_OK

    with ThreadPoolExecutor(max_workers=_io_threads()) as pool:
        for _ in pool.map(one, faces):
            advance(1)


# ---------------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------------


def anonymize_preprocessed(
    preprocess_dir: PathLike,
    output_dir: PathLike,
    method: str,
    *,
    checkpoint: PathLike | None = None,
    batch_size: int = 16,
    device: str = "auto",
    external_dir: PathLike | None = None,
    image_size: int | None = None,
    replace_stale: bool = False,
    progress: bool = True,
    precision: str = "fp32",
    compile: CompileChoice = AUTO,
    input_folder: str | None = None,
) -> pd.DataFrame:
    """Anonymise every stage-01 face with ``method``; write OUTPUT/<method>/ and return its manifest.

    Args:
        preprocess_dir: a finished stage-01 folder (faces.csv, config.json, faces/, landmarks/); only read.
        output_dir: receives ``<method>/<split>/<face_id>.png`` and ``<method>/manifest.csv``.
        method: ``ganonymization``, ``pixel8``, ``pixel16``, ``blur9``, ``blur17`` (any ``pixel<N>`` /
            ``blur<odd K>``), or an external method (``external_dir`` or :func:`register_external`).
        checkpoint: generator checkpoint for ``ganonymization`` (authors' Lightning .ckpt, ours, or a
            bare state dict); loaded once, only if some face still needs it.
        batch_size: faces per generator call.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        external_dir: folder of faces named ``<face_id>.<image suffix>`` for an external method.
        image_size: generator side; default: the checkpoint's recorded training size, else the face size.
        replace_stale: when OUTPUT/<method> was made with other settings (e.g. another checkpoint), delete
            it and start afresh instead of raising ValueError.
        progress: show a progress bar.
        precision: ``fp32`` (the reference) or ``bf16`` (generator under bf16 autocast: about 2x faster on
            CPUs with bf16 support and on GPUs; faces differ by a few grey levels).
        compile: run the generator through ``torch.compile`` with frozen weights (about 2x faster on the
            CPU after a one-time compilation of 10-60 s; same faces). ``"auto"`` (default) compiles when at
            least :data:`~.synthesis.AUTO_COMPILE_MIN_FACES` faces are to be made and Inductor can build kernels
            here, and runs eager, with a warning, if that compilation fails.
        input_folder: a key of the photos' folder (the photos command): a folder made from another is refused,
            so photos named alike in two folders never share an output.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    preprocess_dir = Path(preprocess_dir)
    kind = method_kind(method, external_dir)
    faces, preprocess_config = read_stage_outputs(preprocess_dir)
    face_size = int(preprocess_config["image_size"])
    method_dir = Path(output_dir) / method
    settings: dict[str, Any] = {"method": method, "face_size": face_size}
    folder, index = None, {}
    if kind == GANONYMIZATION:
        settings.update(checkpoint_sha256=file_sha256(require_checkpoint(checkpoint)), image_size=image_size)
        if precision != "fp32":  # fp32 folders keep the settings they were made with
            settings["precision"] = precision
    elif kind == "external":
        folder = external_folder(method, external_dir)
        index = index_external_faces(folder)
        settings["external_dir"] = str(folder)
    if input_folder is not None:
        settings["input_folder"] = input_folder
    with folder_lock(method_dir):
        remove_stale_temporaries(method_dir)
        check_settings(method_dir, settings, replace_stale=replace_stale)
        return _anonymize_faces(
            faces, preprocess_dir, method_dir, method, kind, folder, index, checkpoint=checkpoint, batch_size=batch_size,
            device=device, image_size=image_size, face_size=face_size, progress=progress, precision=precision,
            compile=compile,
        )  # fmt: skip


def recorded_sources(method_dir: Path) -> dict[str, str]:
    """``face_id -> source_sha256`` of the faces an earlier run of this method folder made."""
    path = method_dir / "manifest.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "source_sha256" not in table.columns:
        return {}
    return dict(zip(table["face_id"], table["source_sha256"]))


def record_pending(method_dir: Path, rows: list[dict[str, Any]], pending: Sequence[_Face]) -> None:
    """Before any face is made: delete the outputs of faces to be made again (made from another input), then
    write the manifest with those faces as ``pending`` and the hashes of what they will be made from. A run
    killed after this finds each face done exactly when its file exists, and never takes a stale file as done."""
    waiting = {id(face.row) for face in pending}
    for face in pending:
        (method_dir / face.row["face_path"]).unlink(missing_ok=True)
    interim = [dict(row, status=STATUS_PENDING, message="not made yet") if id(row) in waiting else row for row in rows]
    write_csv_atomic(method_dir / "manifest.csv", pd.DataFrame(interim, columns=MANIFEST_COLUMNS))


def source_sha256(kind: str, preprocess_dir: Path, face_path: str, landmarks_path: str, external: Path | None) -> str:
    """The SHA-256 of what a face is made from: its landmarks for GANonymization (the generator sees nothing
    else; "" for a face without landmarks, the average face), the external method's file, or the stage-01 face."""
    if kind == GANONYMIZATION:
        return (content_sha256(preprocess_dir / landmarks_path) or "") if landmarks_path else ""
    if kind == "external":
        return (content_sha256(external) or "") if external is not None else ""
    return content_sha256(preprocess_dir / face_path) or ""


def _anonymize_faces(
    faces: pd.DataFrame,
    preprocess_dir: Path,
    method_dir: Path,
    method: str,
    kind: str,
    folder: Path | None,
    index: dict[str, list[Path]],
    *,
    checkpoint: PathLike | None,
    batch_size: int,
    device: str,
    image_size: int | None,
    face_size: int,
    progress: bool,
    precision: str,
    compile: CompileChoice,
) -> pd.DataFrame:
    """The faces of one method folder (settings checked, lock held): skip what is done, make the rest."""
    previous = recorded_sources(method_dir)
    rows: list[dict[str, Any]] = []
    pending: list[_Face] = []
    for face in faces.itertuples(index=False):
        row = {
            "face_id": face.face_id, "image_id": face.image_id, "split": face.split, "method": method,
            "status": STATUS_OK, "message": "", "face_path": output_face_path(face.split, face.face_id), "source": "",
            "source_sha256": "",
        }  # fmt: skip
        rows.append(row)
        landmarks_path = face.landmarks_path if face.status == FACE_OK else ""
        if not face.face_path:
            row.update(status=STATUS_SKIPPED, message=f"stage 01 wrote no face image (status {face.status})", face_path="")
            continue
        external = find_external_face(index, face.face_id, face.split)[0] if kind == "external" else None
        row["source_sha256"] = source_sha256(kind, preprocess_dir, face.face_path, landmarks_path, external)
        made_from_this = previous.get(face.face_id) == row["source_sha256"]
        if made_from_this and (method_dir / row["face_path"]).is_file():
            _describe_done(row, kind, landmarks_path, index, folder)
        else:
            pending.append(_Face(row, face.face_path, landmarks_path))
    record_pending(method_dir, rows, pending)

    bar = _progress(len(pending), method, progress and bool(pending))
    try:
        if pending and kind == GANONYMIZATION:
            on = resolve_device(device)
            synthesizer = FaceSynthesizer.from_checkpoint(
                checkpoint,
                device=on,
                image_size=image_size,
                fallback_image_size=face_size,
                precision=precision,
                compile=resolve_compile(compile, len(pending), on),
                eager_if_compile_fails=compile == AUTO,
            )
            _synthesize_all(
                pending, preprocess_dir, method_dir, synthesizer, batch_size=batch_size, face_size=face_size, advance=bar.update
            )
        elif pending and kind == "baseline":
            face_method = builtin_method(method)
            if face_method is None:  # method_kind named it a baseline
                raise ValueError(f"{method!r} is not a built-in baseline")
            _apply_baseline(pending, preprocess_dir, method_dir, face_method, bar.update)
        elif pending:
            if folder is None:  # method_kind named it external, so external_folder found its folder
                raise ValueError(f"external method {method!r} has no folder")
            _copy_external(pending, folder, index, method_dir, face_size, bar.update)
    finally:
        bar.close()
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_csv_atomic(method_dir / "manifest.csv", manifest)
    return manifest


def _describe_done(
    row: dict[str, Any], kind: str, landmarks_path: str, index: dict[str, list[Path]], folder: Path | None
) -> None:
    """Status of a face written by an earlier run (the same settings make it the same file)."""
    if kind == GANONYMIZATION and not landmarks_path:
        row.update(status=STATUS_AVERAGE_FACE, message=AVERAGE_FACE_MESSAGE)
    elif kind == "external" and folder is not None:
        path, _, _ = find_external_face(index, row["face_id"], row["split"])
        row["source"] = path.relative_to(folder).as_posix() if path is not None else ""
