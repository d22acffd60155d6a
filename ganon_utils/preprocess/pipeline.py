"""The preprocessing stage: image -> faces (aligned, background removed) + 478 landmarks each.

Output folder layout::

    config.json                         the settings the folder was made with
    faces/<split>/<face_id>.png         aligned, zero-padded, background-free face (size x size RGB)
    landmarks/<split>/<face_id>.npy     (478, 3) float32 normalised landmarks (only when found)
    records/<image_id>.json             per-image result with the SHA-256 of the input file; written last, so it
                                        marks the image as done
    manifest.csv                        one row per input image with its status
    faces.csv                           one row per detected face with its status

``face_id`` is ``<image_id>_<k>`` with faces numbered left to right. A rerun skips every image whose record
holds the SHA-256 of the input as it is now, so an interrupted run resumes and ends with the same files as an
uninterrupted one, and a replaced input (same name, other content) is done again, its old faces removed. A run
holds the folder's lock and first removes the temporary files a killed run left.
Inputs are only read. Work is mapped over images with Dask (a local cluster by default, or an existing
scheduler); each worker process builds its models once and reuses them for every image.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganon_utils.atomic_files import folder_lock, remove_stale_temporaries, save_npy_atomic, write_csv_atomic, write_text_atomic
from ganon_utils.image_io import (
    ImageLoadError,
    content_sha256,
    frame_count,
    image_id_for,
    list_input_files,
    load_image,
    save_png,
)
from ganon_utils.preprocess.alignment import (
    CROP_THEN_ROTATE,
    ROTATE_THEN_CROP,
    AlignedFace,
    align_face,
    check_alignment,
    transform_points,
)
from ganon_utils.preprocess.detection import DETECTOR_WEIGHTS, FaceDetection, FaceDetector, box_of, build_detector
from ganon_utils.preprocess.landmarks import LandmarkExtractor
from ganon_utils.preprocess.segmentation import SEGMENTER_WEIGHTS, HeadSegmenter, build_segmenter, remove_background
from ganon_utils.run_settings import setting_changes
from ganon_utils.stages import (
    FACE_NO_LANDMARKS,
    FACE_OK,
    FACE_TOO_SMALL,
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_OK,
    PathLike,
)
from ganon_utils.weights import require_weight

MANIFEST_COLUMNS = [
    "image_id", "source", "frame", "split", "status", "message", "width", "height",
    "n_faces", "n_faces_with_landmarks", "conversions",
]  # fmt: skip
FACE_COLUMNS = [
    "face_id", "image_id", "face_index", "split", "status", "score",
    "box_x0", "box_y0", "box_x1", "box_y1", "angle_degrees", "face_path", "landmarks_path",
]  # fmt: skip


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings that determine the outputs; a folder is only ever resumed with the same settings."""

    detector: str = "yunet+centerface"  # the best offline recall measured (docs/detection.md); paper: retinaface
    segmenter: str = "selfie"
    image_size: int = 512
    face_margin: float = 0.25  # box growth per side; 0.0 keeps the detector's box (the paper's RetinaFace)
    min_face_size: int = 0  # faces whose box is smaller (pixels, shorter side) get status too_small
    max_pixels: int = 40_000_000  # larger images are refused unread (status too_large)
    alignment: str = ROTATE_THEN_CROP  # or crop_then_rotate: the authors' retina-face 0.0.14 order (black corners)

    def __post_init__(self) -> None:
        check_alignment(self.alignment)

    def to_dict(self) -> dict:
        return asdict(self)


SETTINGS_BEFORE_RECORDED = {"alignment": ROTATE_THEN_CROP}
"""What folders made before a setting existed were made with (their config.json lacks it)."""


def recorded_box(box: Sequence[float]) -> list[float]:
    """A detector box as ``faces.csv`` keeps it (2 decimals)."""
    return [round(float(v), 2) for v in box]


@dataclass(frozen=True)
class ImageTask:
    """One input image: where it is, its id, and the split it belongs to."""

    image_id: str
    source: str  # absolute path
    relative_path: str  # path as recorded in the manifest (relative to the input root)
    split: str = "all"
    frame: int | None = None  # the page or frame of a multi-frame file (TIFF, GIF, WebP); None: a one-frame file
    skip_status: str = ""  # not read on purpose (hidden, a link to a folder): its manifest status ...
    skip_reason: str = ""  # ... and why


@dataclass
class PreprocessModels:
    """The three models of the stage, built once per process."""

    detector: FaceDetector
    segmenter: HeadSegmenter
    landmarks: LandmarkExtractor


_MODEL_CACHE: dict[tuple[str, str], PreprocessModels] = {}
MODEL_BUILDS = {"count": 0}  # how many times models were built in this process (tests check reuse)


def models_for(config: PreprocessConfig) -> PreprocessModels:
    """The models for ``config``, built on first use in this process and reused afterwards."""
    key = (config.detector, config.segmenter)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = PreprocessModels(
            detector=build_detector(config.detector),
            segmenter=build_segmenter(config.segmenter),
            landmarks=LandmarkExtractor(),
        )
        MODEL_BUILDS["count"] += 1
    return _MODEL_CACHE[key]


def require_backend_weights(config: PreprocessConfig) -> None:
    """Raise MissingWeightError (naming the file) before any work if a chosen backend lacks its weights."""
    for table, backend in ((DETECTOR_WEIGHTS, config.detector), (SEGMENTER_WEIGHTS, config.segmenter)):
        if backend in table:
            require_weight(table[backend])


def tasks_for_file(source: Path, relative: str, split: str = "all") -> list[ImageTask]:
    """The tasks of one file: one, or one per frame of a multi-frame file (image id ``<id>_frame<k>``)."""
    image_id = image_id_for(relative)
    frames = frame_count(source)
    if frames == 1:
        return [ImageTask(image_id, str(source), relative, split)]
    return [ImageTask(f"{image_id}_frame{k}", str(source), relative, split, frame=k) for k in range(frames)]


def tasks_from_folder(input_dir: Path, split: str = "all") -> list[ImageTask]:
    """A task for every file under ``input_dir`` (recursive, sorted), so every input gets a manifest row: images in
    any format Pillow or OpenCV reads, whatever their name; other files (status ``not_an_image`` when read);
    hidden files and links to folders as skipped rows; one task per frame of a multi-frame image."""
    input_dir = Path(input_dir).resolve()
    tasks: list[ImageTask] = []
    for entry in list_input_files(input_dir):
        source = input_dir / entry.relative_path
        if entry.skip_status:
            tasks.append(ImageTask(image_id_for(entry.relative_path), str(source), entry.relative_path, split,
                                   skip_status=entry.skip_status, skip_reason=entry.reason))  # fmt: skip
        else:
            tasks += tasks_for_file(source, entry.relative_path, split)
    return tasks


def tasks_from_manifest(manifest: pd.DataFrame, root: Path) -> list[ImageTask]:
    """One task per row of a dataset manifest (columns ``image_path`` relative to ``root`` and ``split``)."""
    root = Path(root).resolve()
    splits = manifest["split"] if "split" in manifest else ["all"] * len(manifest)
    return [
        ImageTask(image_id_for(str(rel)), str(root / str(rel)), str(rel), str(split))
        for rel, split in zip(manifest["image_path"], splits)
    ]


def face_box_in_aligned(matrix: np.ndarray, box: Sequence[float]) -> tuple[float, float, float, float]:
    """The axis-aligned bounds of a detector box after the alignment transform."""
    x0, y0, x1, y1 = box
    corners = transform_points(matrix, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    (bx0, by0), (bx1, by1) = corners.min(axis=0), corners.max(axis=0)
    return (float(bx0), float(by0), float(bx1), float(by1))


@dataclass(frozen=True)
class FaceSteps:
    """Every intermediate result for one face (the notebook's Fig.-2-like grid shows them)."""

    aligned: AlignedFace
    mask: np.ndarray  # (size, size) bool head mask
    segmented: np.ndarray  # (size, size, 3) uint8, background 0
    landmarks: np.ndarray | None  # (478, 3) float32 normalised, None when the face mesh found no face


def alignment_box(face: FaceDetection, config: PreprocessConfig) -> Sequence[float]:
    """The box a face is aligned from: ``crop_then_rotate`` takes the recorded box, since its crop truncates to
    whole pixels and paste-back must find the same pixels again from ``faces.csv``."""
    return recorded_box(face.box) if config.alignment == CROP_THEN_ROTATE else face.box


def process_face(rgb: np.ndarray, face: FaceDetection, models: PreprocessModels, config: PreprocessConfig) -> FaceSteps:
    """Align, remove the background and find the landmarks of one detected face."""
    aligned = align_face(
        rgb, box_of(alignment_box(face, config)), face.right_eye, face.left_eye, config.image_size, config.face_margin,
        alignment=config.alignment,
    )  # fmt: skip
    mask = models.segmenter(aligned.image, face_box_in_aligned(aligned.matrix, face.box))
    segmented = remove_background(aligned.image, mask)
    return FaceSteps(aligned, mask, segmented, models.landmarks(segmented))


def detect_and_process(rgb: np.ndarray, config: PreprocessConfig) -> list[tuple[FaceDetection, FaceSteps]]:
    """All faces of one image with their intermediate results (models reused from this process)."""
    models = models_for(config)
    return [(face, process_face(rgb, face, models, config)) for face in models.detector(rgb)]


def face_paths(output_dir: Path, split: str, face_id: str) -> tuple[str, str]:
    """Relative paths of a face's image and landmark files inside the output folder."""
    return f"faces/{split}/{face_id}.png", f"landmarks/{split}/{face_id}.npy"


def record_path(output_dir: Path, image_id: str) -> Path:
    return Path(output_dir) / "records" / f"{image_id}.json"


def process_image(task: ImageTask, config: PreprocessConfig, output_dir: PathLike) -> dict:
    """Run the whole stage on one image, write its files, and return (and store) its record.

    Never raises for a bad image: the record's status says what happened.
    """
    output_dir = Path(output_dir)
    record: dict[str, Any] = {
        "image_id": task.image_id, "source": task.relative_path, "split": task.split, "frame": task.frame,
        "status": STATUS_OK, "message": "", "width": None, "height": None,
        "conversions": "", "faces": [], "source_sha256": content_sha256(task.source) or "",
    }  # fmt: skip
    if task.skip_status:
        record.update(status=task.skip_status, message=task.skip_reason)
        return _store_record(output_dir, record)
    try:
        loaded = load_image(task.source, max_pixels=config.max_pixels, frame=task.frame)
    except ImageLoadError as error:
        record.update(status=str(error.status.value), message=str(error))
        return _store_record(output_dir, record)
    rgb = loaded.rgb
    record.update(height=int(rgb.shape[0]), width=int(rgb.shape[1]), conversions=";".join(loaded.conversions))
    try:
        models = models_for(config)
        detections = models.detector(rgb)
        if not detections:
            record.update(status=STATUS_NO_FACE, message="no face detected")
        for index, face in enumerate(detections):
            record["faces"].append(_process_one_face(rgb, face, index, task, models, config, output_dir))
    except Exception as error:  # a model failure on one image must not stop the run
        record.update(status=STATUS_ERROR, message=f"{type(error).__name__}: {error}", faces=[])
        record["traceback"] = traceback.format_exc(limit=5)
    return _store_record(output_dir, record)


def _process_one_face(
    rgb: np.ndarray,
    face: FaceDetection,
    index: int,
    task: ImageTask,
    models: PreprocessModels,
    config: PreprocessConfig,
    output_dir: Path,
) -> dict:
    face_id = f"{task.image_id}_{index}"
    image_rel, landmarks_rel = face_paths(output_dir, task.split, face_id)
    row = {
        "face_id": face_id, "face_index": index, "score": round(face.score, 6),
        "box": recorded_box(face.box), "angle_degrees": None,
        "status": FACE_OK, "face_path": "", "landmarks_path": "",
    }  # fmt: skip
    x0, y0, x1, y1 = face.box
    if min(x1 - x0, y1 - y0) < config.min_face_size:
        row["status"] = FACE_TOO_SMALL
        return row
    steps = process_face(rgb, face, models, config)
    save_png(output_dir / image_rel, steps.segmented)
    row.update(face_path=image_rel, angle_degrees=round(steps.aligned.angle_degrees, 3))
    if steps.landmarks is None:
        row["status"] = FACE_NO_LANDMARKS
    else:
        save_npy_atomic(output_dir / landmarks_rel, steps.landmarks)
        row["landmarks_path"] = landmarks_rel
    return row


def _store_record(output_dir: Path, record: dict) -> dict:
    write_text_atomic(record_path(output_dir, record["image_id"]), json.dumps(record, indent=1, sort_keys=True))
    return record


def read_record(output_dir: Path, image_id: str) -> dict | None:
    path = record_path(output_dir, image_id)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a damaged record counts as not done


def read_stage_outputs(output_dir: PathLike) -> tuple[pd.DataFrame, dict]:
    """A finished stage-01 folder's ``faces.csv`` (ids and paths as strings, "" when empty) and settings.

    Raises FileNotFoundError naming the missing file and how to make it.
    """
    output_dir = Path(output_dir)
    for name in ("faces.csv", "config.json"):
        if not (output_dir / name).is_file():
            raise FileNotFoundError(
                f"{output_dir / name} not found: {output_dir} is not a finished stage-01 folder "
                "(run notebooks/01_preprocess.ipynb or python -m ganon_utils preprocess first)"
            )
    text_columns = ("face_id", "image_id", "split", "status", "face_path", "landmarks_path")
    faces = pd.read_csv(output_dir / "faces.csv", dtype={column: str for column in text_columns})
    faces[list(text_columns)] = faces[list(text_columns)].fillna("")
    return faces, json.loads((output_dir / "config.json").read_text())


def check_config(output_dir: Path, config: PreprocessConfig) -> None:
    """Write config.json into a new folder; refuse to resume a folder made with other settings."""
    path = Path(output_dir) / "config.json"
    if path.is_file():
        changed = setting_changes({**SETTINGS_BEFORE_RECORDED, **json.loads(path.read_text())}, config.to_dict())
        if changed:
            raise ValueError(
                f"{output_dir} was made with different preprocessing settings ({'; '.join(changed)}); "
                "use a new output folder or delete it to start over"
            )
    else:
        write_text_atomic(path, json.dumps(config.to_dict(), indent=1, sort_keys=True))


@dataclass
class PreprocessResult:
    """The two tables of a finished run and how many images this call processed."""

    manifest: pd.DataFrame
    faces: pd.DataFrame
    processed: int
    skipped: int
    output_dir: Path = field(default_factory=Path)

    def status_counts(self) -> pd.Series:
        return self.manifest["status"].value_counts()


def manifest_tables(records: Iterable[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flatten per-image records into the image manifest and the face table."""
    images, faces = [], []
    for record in records:
        face_rows = record.get("faces", [])
        images.append(
            {
                **{k: record.get(k) for k in MANIFEST_COLUMNS if k in record},
                "n_faces": len(face_rows),
                "n_faces_with_landmarks": sum(f["status"] == FACE_OK for f in face_rows),
            }
        )
        for face in face_rows:
            x0, y0, x1, y1 = face["box"]
            faces.append(
                {
                    **{k: face[k] for k in ("face_id", "face_index", "status", "score", "angle_degrees")},
                    "image_id": record["image_id"], "split": record["split"],
                    "box_x0": x0, "box_y0": y0, "box_x1": x1, "box_y1": y1,
                    "face_path": face["face_path"], "landmarks_path": face["landmarks_path"],
                }
            )  # fmt: skip
    manifest = pd.DataFrame(images, columns=MANIFEST_COLUMNS)
    for column in ("width", "height", "frame"):
        manifest[column] = manifest[column].astype("Int64")  # missing for unreadable images and one-frame files
    return manifest, pd.DataFrame(faces, columns=FACE_COLUMNS)


def run_preprocess(
    tasks: Sequence[ImageTask],
    output_dir: PathLike,
    config: PreprocessConfig = PreprocessConfig(),
    *,
    n_workers: int | None = None,
    scheduler_address: str | None = None,
    progress: bool = True,
) -> PreprocessResult:
    """Process every task not yet done, then write manifest.csv and faces.csv for all tasks.

    ``n_workers=0`` runs in this process (no Dask); otherwise images are mapped over a Dask cluster:
    the one at ``scheduler_address`` (its workers must see ``output_dir``), or a local cluster of
    ``n_workers`` single-threaded processes (default: one per core).
    """
    require_backend_weights(config)
    output_dir = Path(output_dir).resolve()
    ids = [t.image_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("two input images map to the same image id; rename one of them")
    with folder_lock(output_dir):
        remove_stale_temporaries(output_dir)
        check_config(output_dir, config)
        done = finished_records(tasks, output_dir)
        pending = [t for t in tasks if t.image_id not in done]
        for record in _execute(pending, config, output_dir, n_workers, scheduler_address, progress):
            done[record["image_id"]] = record
        manifest, faces = manifest_tables(done[t.image_id] for t in tasks)
        write_csv_atomic(output_dir / "manifest.csv", manifest)
        write_csv_atomic(output_dir / "faces.csv", faces)
    return PreprocessResult(manifest, faces, processed=len(pending), skipped=len(tasks) - len(pending), output_dir=output_dir)


def finished_records(tasks: Sequence[ImageTask], output_dir: Path) -> dict[str, dict]:
    """Records of the tasks they were made for (:func:`record_matches_task`); the others' old outputs are removed
    (a replaced photo must not keep the faces of the one it replaced)."""
    done = {}
    for task in tasks:
        record = read_record(output_dir, task.image_id)
        if record is None:
            continue
        if record_matches_task(record, task):
            done[task.image_id] = record
        else:
            discard_record(output_dir, record)
    return done


def record_matches_task(record: Mapping[str, Any], task: ImageTask) -> bool:
    """True when ``record`` was made from this very input: the same bytes (SHA-256), and the same split, relative
    path and frame (a dataset whose split rule changed puts the image in another split, and its files elsewhere)."""
    same_bytes = bool(record.get("source_sha256")) and record["source_sha256"] == content_sha256(task.source)
    same_place = (record.get("split"), record.get("source"), record.get("frame")) == (task.split, task.relative_path, task.frame)
    return same_bytes and same_place


def discard_record(output_dir: Path, record: dict) -> None:
    """Delete an image's record and the face and landmark files it lists."""
    for face in record.get("faces", []):
        for key in ("face_path", "landmarks_path"):
            if face.get(key):
                (output_dir / face[key]).unlink(missing_ok=True)
    record_path(output_dir, record["image_id"]).unlink(missing_ok=True)


def _execute(
    tasks: Sequence[ImageTask],
    config: PreprocessConfig,
    output_dir: Path,
    n_workers: int | None,
    scheduler_address: str | None,
    progress: bool,
) -> Iterator[dict]:
    if not tasks:
        return
    from ganon_utils.progress import progress_bar

    bar = progress_bar(total=len(tasks), desc="preprocess", unit="img", disable=not progress)
    if n_workers == 0 and scheduler_address is None:
        for task in tasks:
            yield process_image(task, config, output_dir)
            bar.update()
        bar.close()
        return
    from dask.distributed import Client, LocalCluster, as_completed

    if scheduler_address:
        client, cluster = Client(scheduler_address), None
    else:
        import os

        workers = n_workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=min(workers, len(tasks)), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(process_image, list(tasks), config=config, output_dir=str(output_dir), pure=False)
        task_of = {future.key: task for future, task in zip(futures, tasks)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # the worker itself died (e.g. a crash inside a native library)
                task = task_of[future.key]
                yield {
                    "image_id": task.image_id, "source": task.relative_path, "split": task.split,
                    "status": STATUS_ERROR, "message": f"worker failed: {type(error).__name__}: {error}",
                    "faces": [],
                }  # fmt: skip
            bar.update()
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
