"""Photos in, photos out: anonymise a photo or a folder of photos for the command line.

Stage 01 runs on the photos into ``OUTPUT/_work/preprocess`` (detect, align, segment, landmarks), the method
anonymises every face, and then, by default, each face is blended back into its photo (:mod:`.paste_back`)::

    OUTPUT/<method>/<relative path of the photo>   the whole photo with its faces replaced, in the input's format
                                                   (JPEG at quality 95, PNG, WebP, TIFF, BMP; others as PNG, with
                                                   ``.png`` appended to the name), no metadata
    OUTPUT/<method>/photos.csv                     one row per photo: status, faces found and replaced, output path
    OUTPUT/<method>/config.json                    the settings (a folder resumes only with the same)
    OUTPUT/_work/preprocess/                       stage 01 (the ORIGINAL aligned faces: keep it private)
    OUTPUT/_work/crops/<method>/                   the anonymised aligned faces the photos were made from

With ``output="crops"`` the aligned anonymised faces are the result instead, as the paper's methods produce them:
``OUTPUT/<method>/<split>/<face_id>.png`` with ``manifest.csv`` (:func:`~.pipeline.anonymize_preprocessed`).

A photo is written only when every face detected in it was anonymised; a photo without a detected face is not
written (its status says so), since a face the detector missed would appear unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganon_utils.anonymize.paste_back import alignment_from_record, feathered_mask, head_mask, paste_face
from ganon_utils.anonymize.pipeline import (
    ANONYMIZED_STATUSES,
    STATUS_OK,
    anonymize_preprocessed,
    check_settings,
    external_folder,
    method_kind,
    read_preprocessed,
)
from ganon_utils.anonymize.synthesis import GANONYMIZATION, file_sha256, require_checkpoint
from ganon_utils.atomic_files import write_csv_atomic
from ganon_utils.image_io import image_format, image_id_for, load_image, photo_format, photo_output_name, save_photo
from ganon_utils.preprocess.pipeline import ImageTask, PreprocessConfig, PreprocessResult, run_preprocess, tasks_from_folder

WORK_FOLDER = "_work"
"""Sub-folder of OUTPUT with the intermediates of :func:`anonymize_photos`."""
PREPROCESS_FOLDER = f"{WORK_FOLDER}/preprocess"
"""Where :func:`anonymize_photos` runs stage 01 (relative to OUTPUT)."""
CROPS_FOLDER = f"{WORK_FOLDER}/crops"
"""Where the anonymised aligned faces behind the photos go (relative to OUTPUT)."""
OUTPUTS = ("photos", "crops")

PHOTO_INCOMPLETE = "incomplete"
"""Photo status when a face of it has no anonymised image: the photo is not written (it would show that face)."""
PHOTO_COLUMNS = ["image_id", "source", "status", "message", "n_faces", "n_pasted", "photo_path"]
PHOTOS_TABLE = "photos.csv"


def photo_tasks(input_path: str | os.PathLike[str]) -> list[ImageTask]:
    """Stage-01 tasks for one photo (its file name is its relative path) or every image under a folder."""
    path = Path(input_path)
    if path.is_dir():
        return tasks_from_folder(path)
    if path.is_file():
        return [ImageTask(image_id_for(path.name), str(path.resolve()), path.name, "all")]
    raise FileNotFoundError(f"input not found: {path}")


@dataclass
class PhotoAnonymization:
    """Result of :func:`anonymize_photos`."""

    faces: pd.DataFrame  # the manifest of the anonymised aligned faces
    photos: pd.DataFrame | None  # OUTPUT/<method>/photos.csv (output "photos")
    preprocess: PreprocessResult
    method_dir: Path  # OUTPUT/<method>: the photos, or the crops with output "crops"
    crops_dir: Path  # the folder holding the anonymised aligned faces


def anonymize_photos(
    input_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    method: str,
    *,
    output: str = "photos",
    checkpoint: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    device: str = "auto",
    external_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    replace_stale: bool = False,
    preprocess_config: PreprocessConfig = PreprocessConfig(),
    n_workers: int | None = 0,
    progress: bool = True,
    precision: str = "fp32",
    compile: bool = False,
) -> PhotoAnonymization:
    """Anonymise a photo or a folder of photos with ``method``; see the module docstring for the layout.

    ``output="photos"`` (default) writes each whole photo with its faces replaced under ``OUTPUT/<method>/`` at the
    photo's relative path; ``output="crops"`` writes the aligned anonymised faces there instead. The other
    arguments are those of :func:`~.pipeline.anonymize_preprocessed` and of stage 01 (``preprocess_config``,
    ``n_workers``).
    """
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
    crops_root = output_dir if output == "crops" else output_dir / CROPS_FOLDER
    if output == "photos":  # refuse a folder made with other settings before any work
        settings = photo_settings(method, checkpoint if kind == GANONYMIZATION else None, preprocess_config, image_size, precision)
        check_settings(method_dir, settings, replace_stale=replace_stale)
    preprocess_dir = output_dir / PREPROCESS_FOLDER
    preprocessed = run_preprocess(tasks, preprocess_dir, preprocess_config, n_workers=n_workers, progress=progress)
    faces = anonymize_preprocessed(
        preprocess_dir, crops_root, method, checkpoint=checkpoint, batch_size=batch_size, device=device,
        external_dir=external_dir, image_size=image_size, replace_stale=replace_stale, progress=progress,
        precision=precision, compile=compile,
    )  # fmt: skip
    photos = None
    if output == "photos":
        photos = paste_back_photos(tasks, preprocess_dir, crops_root / method, faces, method_dir, progress=progress)
    return PhotoAnonymization(faces=faces, photos=photos, preprocess=preprocessed, method_dir=method_dir,
                              crops_dir=crops_root / method)  # fmt: skip


def photo_settings(
    method: str,
    checkpoint: str | os.PathLike[str] | None,
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
    preprocess_dir: str | os.PathLike[str],
    crops_dir: str | os.PathLike[str],
    anonymized: pd.DataFrame,
    photos_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Blend each photo's anonymised faces (in ``crops_dir``) back into it; write each photo under ``photos_dir``
    at its relative path, in its own format, and ``photos_dir/photos.csv``."""
    from ganon_utils.progress import progress_bar

    preprocess_dir, crops_dir, photos_dir = Path(preprocess_dir), Path(crops_dir), Path(photos_dir)
    faces, config = read_preprocessed(preprocess_dir)
    manifest = pd.read_csv(preprocess_dir / "manifest.csv", dtype={"image_id": str, "status": str, "message": str})
    image_rows = {row.image_id: row for row in manifest.itertuples(index=False)}
    faces_of = {image_id: group for image_id, group in faces.groupby("image_id", sort=False)}
    anonymized_of = anonymized.set_index("face_id")
    rows = []
    for task in progress_bar(list(tasks), desc="paste back", unit="photo", disable=not progress):
        row = {"image_id": task.image_id, "source": task.relative_path, "status": STATUS_OK, "message": "",
               "n_faces": 0, "n_pasted": 0, "photo_path": ""}  # fmt: skip
        rows.append(row)
        record = image_rows.get(task.image_id)
        own_faces = faces_of.get(task.image_id, faces.iloc[:0])
        row["n_faces"] = len(own_faces)
        if record is None or record.status != STATUS_OK:
            row.update(status=getattr(record, "status", "missing"), message=str(getattr(record, "message", "") or "not preprocessed"))
            continue
        not_done = [f for f in own_faces["face_id"] if anonymized_of.loc[f, "status"] not in ANONYMIZED_STATUSES]
        if not_done:
            row.update(status=PHOTO_INCOMPLETE, message="faces without an anonymised image: " + ", ".join(not_done))
            continue
        input_format = image_format(task.source)
        relative = photo_output_name(task.relative_path, input_format)
        row.update(photo_path=relative, n_pasted=len(own_faces))
        target = photos_dir / relative
        if target.is_file():
            continue
        photo = load_image(task.source, max_pixels=int(config.get("max_pixels", 40_000_000))).rgb
        for face in own_faces.itertuples(index=False):
            photo = paste_face(
                photo,
                load_image(crops_dir / anonymized_of.loc[face.face_id, "face_path"]).rgb,
                feathered_mask(head_mask(load_image(preprocess_dir / face.face_path).rgb)),
                alignment_from_record(
                    (face.box_x0, face.box_y0, face.box_x1, face.box_y1), float(face.angle_degrees),
                    margin=float(config["face_margin"]), size=int(config["image_size"]),
                ),
            )  # fmt: skip
        save_photo(target, photo, photo_format(input_format))
    table = pd.DataFrame(rows, columns=PHOTO_COLUMNS)
    write_csv_atomic(photos_dir / PHOTOS_TABLE, table)
    return table
