"""Photos in, photos out: anonymise a photo or a folder of photos for the command line.

Stage 01 runs on the photos (detect, align, segment, landmarks), the method anonymises every face, and then, by
default, each face is blended back into its photo (:mod:`.paste_back`)::

    OUTPUT/<method>/photo_000001.<ext>, ...        the whole photo with its faces replaced, in the input's format
                                                   (JPEG at quality 95, PNG, WebP, TIFF, BMP; others as PNG, with
                                                   ``.png`` appended to the name), no metadata, a neutral name
    OUTPUT/<method>/photos.csv                     one row per input file: its neutral name, status, faces found,
                                                   replaced and residual, output path; nothing of the input's name
    OUTPUT/<method>/config.json                    the settings (a folder resumes only with the same)

File and folder names can name people, so by default nothing of them reaches OUTPUT: photos are numbered in input
order (numbers kept across runs, so a rerun or an added photo renames nothing), and the table that says which input
became which output (with each input's SHA-256, which resume needs) is the private ``WORK/photos.csv``.
``keep_names=True`` (``--keep-names``) writes each photo at its relative path instead, and then ``OUTPUT/<method>/
photos.csv`` is that full table.

The intermediates hold the ORIGINAL aligned faces, so they never go into OUTPUT: they live in a private work
folder (:func:`default_work_dir`, under the user's cache folder, mode 0700; ``work_dir`` / ``--work-dir`` choose
another), which lets an interrupted run resume::

    WORK/preprocess/                               stage 01
    WORK/crops/<method>/                           the anonymised aligned faces the photos were made from
    WORK/photos.csv                                input -> output, with the input's SHA-256 (neutral names)

With ``output="crops"`` the aligned anonymised faces are the result instead, as the paper's methods produce them:
``OUTPUT/<method>/<split>/<face_id>.png`` with ``manifest.csv`` (:func:`~.pipeline.anonymize_preprocessed`).

A photo counts as done when its output exists and was made from the same input bytes; a replaced photo is done
again. One output folder serves one input folder: photos named alike in two folders never share an output. A run
holds the output folder's lock.

A photo is written only when every face detected in it was anonymised, and then searched again by a second,
independent detector (:mod:`.residual`): a face found there that was not replaced makes the photo
``residual_face`` (not written) or, with ``residual="blur"`` / ``"pixelate"``, ``residual_obscured`` (written with
that face obscured). A photo in which stage 01 found no face is searched the same way: ``no_face`` when the second
detector finds none either (not written), else ``residual_face``. Only ``ok`` photos had every face replaced.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganon_utils.anonymize.paste_back import alignment_from_record, feathered_mask, head_mask, paste_face
from ganon_utils.anonymize.pipeline import anonymize_preprocessed, check_settings, external_folder, method_kind
from ganon_utils.anonymize.residual import RESIDUAL_ACTIONS, RESIDUAL_DETECTOR, find_residual_faces, obscure_faces
from ganon_utils.anonymize.residual import residual_detector as build_residual_detector
from ganon_utils.anonymize.synthesis import AUTO, GANONYMIZATION, CompileChoice, file_sha256, require_checkpoint
from ganon_utils.atomic_files import folder_lock, remove_stale_temporaries, write_csv_atomic
from ganon_utils.image_io import content_sha256, image_format, load_image, photo_format, photo_output_name, save_photo
from ganon_utils.preprocess.pipeline import (
    ImageTask,
    PreprocessConfig,
    PreprocessResult,
    read_stage_outputs,
    run_preprocess,
    tasks_for_file,
    tasks_from_folder,
)
from ganon_utils.stages import ANONYMIZED_STATUSES, STATUS_NO_FACE, STATUS_OK, PathLike

PREPROCESS_FOLDER = "preprocess"
"""Where :func:`anonymize_photos` runs stage 01 (relative to the work folder)."""
CROPS_FOLDER = "crops"
"""Where the anonymised aligned faces behind the photos go (relative to the work folder)."""
CACHE_ENV = "GANON_CACHE_DIR"
OUTPUTS = ("photos", "crops")

PHOTO_INCOMPLETE = "incomplete"
"""Photo status when a face of it has no anonymised image: the photo is not written (it would show that face)."""
PHOTO_RESIDUAL = "residual_face"
"""The second detector found a face that was not replaced: the photo is not written."""
PHOTO_RESIDUAL_OBSCURED = "residual_obscured"
"""Residual faces were blurred or pixelated on request: the photo is written, but not every face is anonymised."""
PHOTO_COLUMNS = ["image_id", "source", "status", "message", "n_faces", "n_pasted", "n_residual", "photo_path",
                 "source_sha256", "photo"]  # fmt: skip
PUBLIC_PHOTO_COLUMNS = ["photo", "status", "message", "n_faces", "n_pasted", "n_residual", "photo_path"]
"""photos.csv in OUTPUT with neutral names: nothing that names, or is derived from, an input."""
PHOTOS_TABLE = "photos.csv"
NEUTRAL_NAME = "photo_{:06d}"


def cache_root() -> Path:
    """The package's cache folder: ``$GANON_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganon_utils``, else
    ``~/.cache/ganon_utils``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "ganon_utils"


def default_work_dir(output_dir: PathLike, input_path: PathLike) -> Path:
    """The private work folder of an output folder and an input: ``<cache>/anonymize/<16 hex of the SHA-256 of
    both paths>`` (two inputs into one output folder do not overwrite each other's intermediates)."""
    paths = f"{Path(output_dir).resolve()}\n{input_root(Path(input_path))}"
    return cache_root() / "anonymize" / hashlib.sha256(paths.encode()).hexdigest()[:16]


def private_folder(path: Path) -> Path:
    """``path`` created (with its parents) and readable by its owner only: it holds original faces."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def input_root(input_path: Path) -> Path:
    """The folder the photos' relative paths start at: the input folder, or a single photo's folder."""
    return input_path.resolve() if input_path.is_dir() else input_path.resolve().parent


def photo_tasks(input_path: PathLike) -> list[ImageTask]:
    """Stage-01 tasks for one photo (its file name is its relative path) or every image under a folder."""
    path = Path(input_path)
    if path.is_dir():
        return tasks_from_folder(path)
    if path.is_file():
        return tasks_for_file(path.resolve(), path.name)
    raise FileNotFoundError(f"input not found: {path}")


@dataclass
class PhotoAnonymization:
    """Result of :func:`anonymize_photos`."""

    faces: pd.DataFrame  # the manifest of the anonymised aligned faces
    photos: pd.DataFrame | None  # OUTPUT/<method>/photos.csv (output "photos")
    preprocess: PreprocessResult
    method_dir: Path  # OUTPUT/<method>: the photos, or the crops with output "crops"
    crops_dir: Path  # the folder holding the anonymised aligned faces
    work_dir: Path  # the private folder with stage 01 (original faces)


def anonymize_photos(
    input_path: PathLike,
    output_dir: PathLike,
    method: str,
    *,
    output: str = "photos",
    work_dir: PathLike | None = None,
    checkpoint: PathLike | None = None,
    batch_size: int = 16,
    device: str = "auto",
    external_dir: PathLike | None = None,
    image_size: int | None = None,
    replace_stale: bool = False,
    preprocess_config: PreprocessConfig = PreprocessConfig(),
    n_workers: int | None = 0,
    progress: bool = True,
    precision: str = "fp32",
    compile: CompileChoice = AUTO,
    residual: str = "fail",
    residual_detector: str | None = RESIDUAL_DETECTOR,
    keep_names: bool = False,
) -> PhotoAnonymization:
    """Anonymise a photo or a folder of photos with ``method``; see the module docstring for the layout.

    ``output="photos"`` (default) writes each whole photo with its faces replaced under ``OUTPUT/<method>/`` at the
    photo's relative path; ``output="crops"`` writes the aligned anonymised faces there instead. ``work_dir``:
    where the intermediates go (default :func:`default_work_dir`, outside OUTPUT). ``residual``: what to do with
    a face the second detector (``residual_detector``; None skips the check, for tests only) finds unreplaced:
    ``fail`` (the photo is not written), ``blur`` or ``pixelate`` it. The photos are named ``photo_000001.<ext>``,
    ... in one flat folder (which input became which is in the private ``WORK/photos.csv``); ``keep_names`` writes
    them at their relative paths instead. The other arguments are those of
    :func:`~.pipeline.anonymize_preprocessed` and of stage 01 (``preprocess_config``, ``n_workers``).
    """
    if residual not in RESIDUAL_ACTIONS:
        raise ValueError(f"residual must be one of {', '.join(RESIDUAL_ACTIONS)}, got {residual!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    tasks = photo_tasks(input_path)
    if not tasks:
        raise ValueError(f"no images found in {input_path}")
    kind = method_kind(method, external_dir)  # fail before the (long) preprocessing
    if kind == GANONYMIZATION:
        require_checkpoint(checkpoint)
    elif kind == "external":
        external_folder(method, external_dir)
    output_dir = Path(output_dir)
    method_dir = output_dir / method
    work = Path(work_dir) if work_dir is not None else default_work_dir(output_dir, input_path)
    if work.resolve() == output_dir.resolve() or output_dir.resolve() in work.resolve().parents:
        raise ValueError(f"the work folder {work} holds the original faces and must not be inside the output folder {output_dir}")
    work = private_folder(work)
    crops_root = output_dir if output == "crops" else work / CROPS_FOLDER
    preprocess_dir = work / PREPROCESS_FOLDER
    with folder_lock(output_dir):
        remove_stale_temporaries(output_dir)
        root_key = hashlib.sha256(str(input_root(Path(input_path))).encode()).hexdigest()[:16]
        if output == "photos":  # refuse a folder made from another input or with other settings before any work
            settings = photo_settings(
                method, checkpoint if kind == GANONYMIZATION else None, preprocess_config, image_size, precision
            )
            settings.update(input_folder=root_key, residual=residual, residual_detector=residual_detector)
            if not keep_names:  # folders from before neutral names (no key) kept the names
                settings["names"] = "neutral"
            check_settings(method_dir, settings, replace_stale=replace_stale)
        preprocessed = run_preprocess(tasks, preprocess_dir, preprocess_config, n_workers=n_workers, progress=progress)
        faces = anonymize_preprocessed(
            preprocess_dir, crops_root, method, checkpoint=checkpoint, batch_size=batch_size, device=device,
            external_dir=external_dir, image_size=image_size, replace_stale=replace_stale, progress=progress,
            precision=precision, compile=compile, input_folder=root_key,
        )  # fmt: skip
        photos = None
        if output == "photos":
            photos = paste_back_photos(tasks, preprocess_dir, crops_root / method, faces, method_dir, progress=progress,
                                       residual=residual, residual_detector=residual_detector,
                                       table_dir=None if keep_names else work)  # fmt: skip
    return PhotoAnonymization(faces=faces, photos=photos, preprocess=preprocessed, method_dir=method_dir,
                              crops_dir=crops_root / method, work_dir=work)  # fmt: skip


def photo_settings(
    method: str,
    checkpoint: PathLike | None,
    preprocess_config: PreprocessConfig,
    image_size: int | None,
    precision: str,
) -> dict[str, Any]:
    """What a photos folder depends on: the method, the generator's content hash, stage 01's settings."""
    settings: dict[str, Any] = {"method": method, "output": "photos", "preprocess": preprocess_config.to_dict()}
    if checkpoint is not None:
        settings.update(checkpoint_sha256=file_sha256(Path(checkpoint)), image_size=image_size, precision=precision)
    return settings


def paste_back_photos(
    tasks: Iterable[ImageTask],
    preprocess_dir: PathLike,
    crops_dir: PathLike,
    anonymized: pd.DataFrame,
    photos_dir: PathLike,
    *,
    progress: bool = True,
    residual: str = "fail",
    residual_detector: str | None = RESIDUAL_DETECTOR,
    table_dir: PathLike | None = None,
) -> pd.DataFrame:
    """Blend each photo's anonymised faces (in ``crops_dir``) back into it, look for residual faces, and write each
    photo that passes into ``photos_dir``, in its own format, and return the table of every photo (faces found,
    replaced, residual; status; source and its SHA-256).

    With ``table_dir`` (a private folder) the photos get neutral names, that table is ``table_dir/photos.csv`` and
    ``photos_dir/photos.csv`` is its view without the inputs' names (:func:`public_photos_table`); without it each
    photo keeps its relative path and ``photos_dir/photos.csv`` is the table itself."""
    from ganon_utils.progress import progress_bar

    preprocess_dir, crops_dir, photos_dir = Path(preprocess_dir), Path(crops_dir), Path(photos_dir)
    full_dir = Path(table_dir) if table_dir is not None else photos_dir
    faces, config = read_stage_outputs(preprocess_dir)
    tasks = list(tasks)
    previous = recorded_photos(full_dir, photos_dir)
    neutral = neutral_photo_names(tasks, full_dir) if table_dir is not None else {}
    second_look = None if residual_detector is None else build_residual_detector(residual_detector)
    max_pixels = int(config.get("max_pixels", 40_000_000))
    manifest = pd.read_csv(preprocess_dir / "manifest.csv", dtype={"image_id": str, "status": str, "message": str})
    image_rows = {row.image_id: row for row in manifest.itertuples(index=False)}
    faces_of = {image_id: group for image_id, group in faces.groupby("image_id", sort=False)}
    anonymized_of = anonymized.set_index("face_id")
    rows = []
    for task in progress_bar(tasks, desc="paste back", unit="photo", disable=not progress):
        row = {"image_id": task.image_id, "source": task.relative_path, "status": STATUS_OK, "message": "",
               "n_faces": 0, "n_pasted": 0, "n_residual": 0, "photo_path": "",
               "source_sha256": content_sha256(task.source) or "",
               "photo": Path(neutral[task.image_id]).stem if neutral else ""}  # fmt: skip
        rows.append(row)
        record = image_rows.get(task.image_id)
        own_faces = faces_of.get(task.image_id, faces.iloc[:0])
        row["n_faces"] = len(own_faces)
        input_format = image_format(task.source)
        relative = photo_output_name(neutral.get(task.image_id, task.relative_path), input_format, task.frame)
        earlier = previous.get(relative)
        if earlier is not None and earlier["source_sha256"] == row["source_sha256"] and (photos_dir / relative).is_file():
            row.update({k: earlier[k] for k in ("status", "message", "n_pasted", "n_residual")}, photo_path=relative)
            continue  # made from these very bytes (a replaced photo is made again)
        (photos_dir / relative).unlink(missing_ok=True)  # made from other bytes: it must not stay if no new one is written
        if record is not None and record.status == STATUS_NO_FACE and second_look is not None:
            photo = load_image(task.source, max_pixels=max_pixels, frame=task.frame).rgb
            replaced: list[tuple[float, float, float, float]] = []
        elif record is None or record.status != STATUS_OK:
            row.update(
                status=getattr(record, "status", "missing"), message=str(getattr(record, "message", "") or "not preprocessed")
            )
            continue
        else:
            not_done = [f for f in own_faces["face_id"] if anonymized_of.loc[f, "status"] not in ANONYMIZED_STATUSES]
            if not_done:
                row.update(status=PHOTO_INCOMPLETE, message="faces without an anonymised image: " + ", ".join(not_done))
                continue
            photo = load_image(task.source, max_pixels=max_pixels, frame=task.frame).rgb
            replaced = [(f.box_x0, f.box_y0, f.box_x1, f.box_y1) for f in own_faces.itertuples(index=False)]
            row["n_pasted"] = len(own_faces)
        for face in own_faces.itertuples(index=False):
            photo = paste_face(
                photo,
                load_image(crops_dir / anonymized_of.loc[face.face_id, "face_path"]).rgb,
                feathered_mask(head_mask(load_image(preprocess_dir / face.face_path).rgb)),
                alignment_from_record(
                    (face.box_x0, face.box_y0, face.box_x1, face.box_y1), float(face.angle_degrees),
                    margin=float(config["face_margin"]), size=int(config["image_size"]),
                    alignment=str(config.get("alignment", "rotate_then_crop")), photo_shape=(photo.shape[0], photo.shape[1]),
                ),
            )  # fmt: skip
        found = find_residual_faces(photo, replaced, second_look) if second_look is not None else []
        row["n_residual"] = len(found)
        if not found and not replaced:  # stage 01 and the second look agree: no face at all
            row.update(status=STATUS_NO_FACE, message=str(record.message or "no face detected"))
            continue
        if found:
            boxes = "; ".join(f"({', '.join(f'{v:.0f}' for v in face.box)})" for face in found)
            if residual == "fail":
                row.update(status=PHOTO_RESIDUAL, message=f"{len(found)} face(s) not replaced, boxes {boxes}: not written")
                continue
            photo = obscure_faces(photo, [face.box for face in found], residual)
            row.update(status=PHOTO_RESIDUAL_OBSCURED, message=f"{len(found)} face(s) not replaced were {residual}d: {boxes}")
        row["photo_path"] = relative
        save_photo(photos_dir / relative, photo, photo_format(input_format) if task.frame is None else "PNG")
    table = pd.DataFrame(rows, columns=PHOTO_COLUMNS)
    everything = with_earlier_photos(table, full_dir, photos_dir)
    write_csv_atomic(full_dir / PHOTOS_TABLE, everything)
    if table_dir is not None:
        write_csv_atomic(photos_dir / PHOTOS_TABLE, public_photos_table(everything))
    return table


def neutral_photo_names(tasks: Sequence[ImageTask], table_dir: Path) -> dict[str, str]:
    """``image_id -> photo_000001.<suffix>``: names that say nothing of the input's, numbered in input order (the
    frames of one file share its number) and kept from earlier runs (the private ``table_dir/photos.csv``), so a
    rerun or an added photo renames nothing."""
    path = table_dir / PHOTOS_TABLE
    kept: dict[str, str] = {}  # input's relative path -> its neutral name
    if path.is_file():
        table = pd.read_csv(path, dtype=str, keep_default_na=False).reindex(columns=PHOTO_COLUMNS, fill_value="")
        kept = {source: name for source, name in zip(table["source"], table["photo"]) if neutral_number(name)}
    following = max(map(neutral_number, kept.values()), default=0) + 1
    names = {}
    for task in tasks:
        if task.relative_path not in kept:
            kept[task.relative_path] = NEUTRAL_NAME.format(following)
            following += 1
        names[task.image_id] = kept[task.relative_path] + Path(task.relative_path).suffix.lower()
    return names


def neutral_number(name: str) -> int:
    """The number of a neutral name (``photo_000042`` -> 42); 0 for any other name."""
    digits = name[len("photo_") :]
    return int(digits) if name.startswith("photo_") and len(digits) == 6 and digits.isdigit() else 0


def public_photos_table(table: pd.DataFrame) -> pd.DataFrame:
    """The photos table without what names or derives from an input (its path, id, hash); the inputs' names are
    also taken out of the messages."""
    public = table.reindex(columns=PUBLIC_PHOTO_COLUMNS).copy()
    public["message"] = [
        message_without_names(str(message), str(source), str(photo))
        for message, source, photo in zip(table["message"], table["source"], table["photo"])
    ]  # fmt: skip
    return public


def message_without_names(message: str, source: str, photo: str) -> str:
    """``message`` with the input's relative path, file name and stem replaced by its neutral name, and any
    absolute path by ``<path>``."""
    relative = Path(source)
    for name in sorted({source, relative.name, relative.stem} - {""}, key=len, reverse=True):
        message = message.replace(name, photo)
    return re.sub(r"(?<![\w.])/[^\s'\"]+", "<path>", message)


def recorded_photos(table_dir: Path, photos_dir: Path) -> dict[str, dict[str, Any]]:
    """``photo_path -> its row`` (from ``table_dir/photos.csv``) for the photos an earlier run wrote into
    ``photos_dir``."""
    path = table_dir / PHOTOS_TABLE
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False).reindex(columns=PHOTO_COLUMNS, fill_value="")
    rows = {}
    for row in table.to_dict("records"):
        if row["photo_path"] and row["source_sha256"]:
            row.update(n_pasted=int(row["n_pasted"] or 0), n_residual=int(row["n_residual"] or 0))
            rows[row["photo_path"]] = row
    return rows


def with_earlier_photos(table: pd.DataFrame, table_dir: Path, photos_dir: Path) -> pd.DataFrame:
    """``table`` plus the rows of earlier runs (``table_dir/photos.csv``) for photos this run did not see whose output
    is still in ``photos_dir``, so photos.csv accounts for every file in the folder."""
    path = table_dir / PHOTOS_TABLE
    if not path.is_file():
        return table
    earlier = pd.read_csv(path, dtype=str, keep_default_na=False).reindex(columns=PHOTO_COLUMNS, fill_value="")
    keep = ~earlier["image_id"].isin(table["image_id"]) & earlier["photo_path"].map(
        lambda p: bool(p) and (photos_dir / p).is_file()
    )
    return pd.concat([table, earlier[keep]], ignore_index=True) if keep.any() else table
