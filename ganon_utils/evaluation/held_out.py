"""Quick checks on the faces stage 03 anonymised: is a face still there, and is its expression the same?

Two checks per method (notebook 03, ``tables/held_out_checks.csv``), on whatever faces the run anonymised:

1. **A face is found.** The share of anonymised faces in which each of two independent offline detectors
   (:func:`ganon_utils.preprocess.detection.build_detector`; e.g. YuNet and MTCNN, different model families)
   finds at least one face, and the share in which all of them do. An anonymisation should leave a face: the
   target is :data:`DETECTION_TARGET` (80%) of GANonymization's faces found by every detector. The original
   faces get the same row: the detectors' own recall on these crops, the ceiling of every method.
2. **The expression is kept.** An expression classifier (the offline FER2013 model by default) labels every
   original face and its anonymised version with its arg-max. Per method: the accuracy of the anonymised face's
   label against the original's, the majority-class rate of the originals' labels (what always guessing the
   commonest label would score: an accuracy near it says little), and Cohen's kappa, the agreement beyond that
   chance level (1: the same labels, 0: chance). The target is GANonymization's kappa above pixelation 8x8's.

The labels are the classifier's, not ground truth: the check says whether the classifier sees the same
expression, as the paper's inference scenario does (section 4.2), on a small scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganon_utils.anonymize.pipeline import GANONYMIZATION
from ganon_utils.datasets.manifest import subjects_of
from ganon_utils.evaluation.anonymity import ORIGINAL, anonymized_face_files
from ganon_utils.evaluation.classifiers import ExpressionClassifier
from ganon_utils.evaluation.degenerate import majority_rate
from ganon_utils.evaluation.probabilities import PROBABILITY_PREFIX, class_probabilities, probability_columns
from ganon_utils.image_io import ImageLoadError, load_image
from ganon_utils.preprocess.detection import FaceDetector, build_detector
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.stages import STATUS_OK, PathLike, display_path

CHECK_METHODS = ("ganonymization", "pixel8", "blur9")
CHECK_DETECTORS = ("yunet", "mtcnn")
DETECTION_TARGET = 0.8
"""Share of GANonymization's faces in which every detector must find a face."""
KAPPA_BASELINE = "pixel8"
"""GANonymization's expression kappa should be above this method's."""
DETECTOR_OPTIONS: dict[str, dict[str, object]] = {"mtcnn": {"min_face_size": 64, "max_pixels": 256 * 256}}
"""Options for :func:`build_detector` here. The stage-01 crops hold one face filling most of the image, so MTCNN
runs on a copy of about 256 px and looks for faces of 64 px and more (2-4x faster, the same faces found)."""
ALL_DETECTORS = "all"
COLUMNS = ("method", "faces", "expression_faces", "expression_accuracy", "majority_rate", "kappa", "target")


@dataclass(frozen=True)
class Agreement:
    """How well the anonymised faces' labels agree with the originals' (``faces`` pairs)."""

    faces: int
    accuracy: float
    majority_rate: float
    kappa: float


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two labellings of the same items: (p_o - p_e) / (1 - p_e).

    p_o is the share of items with the same label; p_e the agreement expected by chance from each labelling's
    label frequencies. NaN for no items, or when both give one and the same label throughout (p_e = 1), where
    kappa is undefined (scikit-learn's ``cohen_kappa_score`` also gives NaN there).
    """
    a, b = np.asarray(first, dtype=str), np.asarray(second, dtype=str)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two labellings of the same items needed, got shapes {a.shape} and {b.shape}")
    if not len(a):
        return float("nan")
    labels = np.union1d(a, b)
    counts_a = np.array([np.sum(a == label) for label in labels], dtype=float)
    counts_b = np.array([np.sum(b == label) for label in labels], dtype=float)
    observed = float(np.mean(a == b))
    expected = float(counts_a @ counts_b) / len(a) ** 2
    if expected >= 1.0:
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def agreement(original_labels: Sequence[str], anonymized_labels: Sequence[str]) -> Agreement:
    """Accuracy of ``anonymized_labels`` against ``original_labels``, the originals' majority rate, kappa."""
    original, anonymized = [str(v) for v in original_labels], [str(v) for v in anonymized_labels]
    if len(original) != len(anonymized):
        raise ValueError(f"{len(original)} original labels but {len(anonymized)} anonymised ones")
    accuracy = float(np.mean(np.asarray(original) == np.asarray(anonymized))) if original else float("nan")
    return Agreement(len(original), accuracy, majority_rate(original), cohen_kappa(original, anonymized))


def build_detectors(names: Sequence[str]) -> dict[str, FaceDetector]:
    """name -> detector for each of ``names`` (with :data:`DETECTOR_OPTIONS`), distinct names, at least one."""
    names = [str(name) for name in names]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"check_detectors must name distinct detectors, got {names}")
    with warnings.catch_warnings():  # facenet-pytorch imports tqdm.auto, which warns in a notebook without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        return {name: build_detector(name, **DETECTOR_OPTIONS.get(name, {})) for name in names}


def face_found(detector: FaceDetector, rgb: np.ndarray) -> bool:
    """Whether ``detector`` finds at least one face in ``rgb``."""
    return len(detector(rgb)) > 0


def detection_flags(files: Mapping[str, Path], detectors: Mapping[str, FaceDetector]) -> pd.DataFrame:
    """One row per readable file (``face_id``; unreadable files are left out) and one bool column per detector:
    whether it found a face."""
    rows = []
    for face_id, path in files.items():
        try:
            rgb = load_image(path).rgb
        except ImageLoadError:
            continue
        rows.append({"face_id": face_id, **{name: face_found(detector, rgb) for name, detector in detectors.items()}})
    return pd.DataFrame(rows, columns=["face_id", *detectors])


def detection_shares(flags: pd.DataFrame, detectors: Sequence[str]) -> dict[str, float]:
    """``detected_<name>``: share of the rows in which that detector found a face; ``detected_all``: all did."""
    if flags.empty:
        return {f"detected_{name}": float("nan") for name in [*detectors, ALL_DETECTORS]}
    shares = {f"detected_{name}": float(flags[name].mean()) for name in detectors}
    shares[f"detected_{ALL_DETECTORS}"] = float(flags[list(detectors)].all(axis=1).mean())
    return shares


def available_methods(anonymized_dir: PathLike, methods: Sequence[str]) -> list[str]:
    """The ``methods`` that have a stage-03 manifest in ``anonymized_dir`` (absent ones are skipped)."""
    return [m for m in methods if (Path(anonymized_dir) / m / "manifest.csv").is_file()]


def arg_max_labels(probabilities: pd.DataFrame, version: str) -> pd.Series:
    """face id -> the most probable class of ``version`` (rows with probabilities only)."""
    rows = probabilities[(probabilities["method"] == version) & (probabilities["status"] == STATUS_OK)]
    columns = probability_columns(rows)
    labels = rows[columns].to_numpy(dtype=float).argmax(axis=1) if len(rows) else np.zeros(0, int)
    return pd.Series([columns[i][len(PROBABILITY_PREFIX) :] for i in labels], index=rows["face_id"].to_numpy(), dtype=object)


def expression_agreements(probabilities: pd.DataFrame, methods: Sequence[str]) -> dict[str, Agreement]:
    """method -> :class:`Agreement` of its faces' arg-max with the originals' (faces both have)."""
    original = arg_max_labels(probabilities, ORIGINAL)
    result = {}
    for method in methods:
        anonymized = arg_max_labels(probabilities, method)
        common = [f for f in anonymized.index if f in original.index]
        result[method] = agreement(original[common].tolist(), anonymized[common].tolist())
    return result


def target_text(table: pd.DataFrame, method: str) -> str:
    """The targets a row is measured against, with met / not met ("" for rows without a target)."""
    if method != GANONYMIZATION:
        return ""
    rows = table.set_index("method")
    parts = []
    found = rows.loc[method, f"detected_{ALL_DETECTORS}"]
    if pd.notna(found):
        parts.append(f"found by every detector >= {DETECTION_TARGET:.0%}: {'met' if found >= DETECTION_TARGET else 'not met'}")
    kappa = rows.loc[method, "kappa"]
    if KAPPA_BASELINE in rows.index:
        baseline = rows.loc[KAPPA_BASELINE, "kappa"]
        met = "met" if pd.notna(kappa) and pd.notna(baseline) and kappa > baseline else "not met"
        parts.append(f"kappa above {KAPPA_BASELINE}'s ({baseline:.2f}): {met}")
    return "; ".join(parts)


def sample_faces(face_ids: Sequence[str], max_faces: int | None, seed: int = 0) -> list[str]:
    """``face_ids`` (in their order), or a seeded random sample of ``max_faces`` of them when there are more."""
    if max_faces is None or len(face_ids) <= max_faces:
        return list(face_ids)
    if max_faces < 1:
        raise ValueError(f"max_faces must be at least 1 or None, got {max_faces}")
    keep = set(np.random.default_rng(seed).choice(len(face_ids), size=max_faces, replace=False).tolist())
    return [f for i, f in enumerate(face_ids) if i in keep]


def held_out_checks(
    preprocess_dir: PathLike,
    anonymized_dir: PathLike,
    methods: Sequence[str] = CHECK_METHODS,
    detectors: Sequence[str] | Mapping[str, FaceDetector] = CHECK_DETECTORS,
    classifier: ExpressionClassifier | None = None,
    *,
    max_faces: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> pd.DataFrame:
    """The table of both checks: one row for the originals, then one per method that has a stage-03 folder.

    Columns: ``method``, ``faces`` (anonymised faces the detectors ran on), ``detected_<detector>`` and
    ``detected_all`` (shares), ``expression_faces``, ``expression_accuracy``, ``majority_rate``, ``kappa`` and
    ``target``. The originals' row covers the faces any checked method anonymised and has no expression values.
    ``detectors`` are names for :func:`build_detector` or built detectors; ``classifier`` None skips check 2.
    ``max_faces`` checks a seeded random sample of that many faces (None: all; a paper-sized dataset has tens of
    thousands). Empty (no rows) when none of ``methods`` was run.
    """
    preprocess_dir, anonymized_dir = Path(preprocess_dir), Path(anonymized_dir)
    built = dict(detectors) if isinstance(detectors, Mapping) else build_detectors(detectors)
    names = list(built)
    present = available_methods(anonymized_dir, methods)
    detected_columns = [f"detected_{name}" for name in [*names, ALL_DETECTORS]]
    columns = [COLUMNS[0], COLUMNS[1], *detected_columns, *COLUMNS[2:]]
    if not present:
        return pd.DataFrame(columns=columns)
    files = {method: anonymized_face_files(anonymized_dir, method) for method in present}
    face_ids = sample_faces(sorted(set().union(*files.values())), max_faces, seed)
    files = {
        method: {f: path for f, path in method_files.items() if f in set(face_ids)} for method, method_files in files.items()
    }
    faces, _ = read_stage_outputs(preprocess_dir)
    originals = {f: preprocess_dir / p for f, p in zip(faces["face_id"], faces["face_path"]) if p and f in set(face_ids)}
    agreements = {}
    if classifier is not None and originals:
        probabilities = class_probabilities(preprocess_dir, anonymized_dir, present, classifier, face_ids=list(originals),
                                            batch_size=batch_size, progress=progress)  # fmt: skip
        agreements = expression_agreements(probabilities, present)
    rows = []
    for version, version_files in [(ORIGINAL, originals), *files.items()]:
        flags = detection_flags(version_files, built)
        row = {"method": version, "faces": len(flags), **detection_shares(flags, names)}
        found = agreements.get(version)
        row.update(expression_faces=found.faces if found else 0, expression_accuracy=found.accuracy if found else np.nan,
                   majority_rate=found.majority_rate if found else np.nan, kappa=found.kappa if found else np.nan)  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns[:-1])
    table["target"] = [target_text(table, m) for m in table["method"]]
    return table


@dataclass(frozen=True)
class TrainingOverlap:
    """Who the generator was trained on, against the people a stage-03 folder anonymised.

    ``training_dir`` None: the checkpoint records no training data (the authors' files). A subject set of None:
    that folder names nobody (a plain folder of photos), so people can only be told apart by their subjects'
    names when both are given.
    """

    evaluated_dir: str
    training_dir: str | None
    training_faces: int | None
    training_subjects: frozenset[str] | None
    evaluated_subjects: frozenset[str] | None

    @property
    def same_folder(self) -> bool:
        """True when the generator was trained on the very faces it anonymised."""
        return self.training_dir is not None and Path(self.training_dir).resolve() == Path(self.evaluated_dir).resolve()

    @property
    def shared(self) -> frozenset[str]:
        """Subjects named in both (empty when either side names nobody)."""
        if self.training_subjects is None or self.evaluated_subjects is None:
            return frozenset()
        return self.training_subjects & self.evaluated_subjects

    def markdown(self) -> str:
        """A sentence for the report; a warning in a quote block when the populations overlap."""
        if self.training_dir is None:
            return ("The generator's checkpoint does not record its training data, so whether any person here was "
                    "among its training faces cannot be checked (the authors' generators were trained on CelebA).")  # fmt: skip
        faces = f"{self.training_faces:,} faces" if self.training_faces is not None else "the faces"
        people = "" if self.training_subjects is None else f" of {len(self.training_subjects):,} people"
        trained = f"The generator was trained on {faces}{people} (`{display_path(self.training_dir)}`)"
        if self.same_folder:
            return (f"> **Warning:** {trained}, the very faces anonymised here: it can reproduce them from memory, and "
                    "the checks below overstate what it does for people it never saw.")  # fmt: skip
        if self.shared:
            names = ", ".join(sorted(self.shared))
            return f"> **Warning:** {trained}; {len(self.shared)} of the people anonymised here were among them: {names}."
        if self.training_subjects is None or self.evaluated_subjects is None:
            return f"{trained}; one of the two folders names no subjects, so an overlap of people cannot be checked."
        return f"{trained}; none of the {len(self.evaluated_subjects):,} named people anonymised here is among them."


def training_overlap(training_data: Mapping[str, object] | None, preprocess_dir: PathLike) -> TrainingOverlap:
    """Compare the generator's training data (``CheckpointInfo.training_data``) with the stage-01 folder
    ``preprocess_dir`` that stage 03 anonymised, by the subjects of their dataset manifests."""
    faces, _ = read_stage_outputs(preprocess_dir)
    evaluated = subjects_of(preprocess_dir, faces["image_id"])
    if not training_data:
        return TrainingOverlap(str(preprocess_dir), None, None, None, frozenset(evaluated) if evaluated is not None else None)
    training_dir = str(training_data["preprocess_dir"])
    count = training_data.get("train_faces")
    training = None
    if (Path(training_dir) / "faces.csv").is_file():
        training_faces, _ = read_stage_outputs(training_dir)
        training = subjects_of(training_dir, training_faces["image_id"])
    return TrainingOverlap(
        evaluated_dir=str(preprocess_dir),
        training_dir=training_dir,
        training_faces=int(count) if isinstance(count, int) else None,
        training_subjects=frozenset(training) if training is not None else None,
        evaluated_subjects=frozenset(evaluated) if evaluated is not None else None,
    )


def held_out_headline(table: pd.DataFrame) -> str:
    """One sentence for the summary: GANonymization's detected share and kappa against their targets
    ("" when GANonymization was not checked)."""
    rows = table.set_index("method") if len(table) else table
    if GANONYMIZATION not in getattr(rows, "index", []):
        return ""
    found, kappa = rows.loc[GANONYMIZATION, f"detected_{ALL_DETECTORS}"], rows.loc[GANONYMIZATION, "kappa"]
    sentence = (f"Held-out checks: a face found in {found:.0%} of GANonymization's faces by every detector (target >= "
                f"{DETECTION_TARGET:.0%}); expression kappa against the originals {kappa:.2f}")  # fmt: skip
    if KAPPA_BASELINE in rows.index:
        sentence += f" vs {rows.loc[KAPPA_BASELINE, 'kappa']:.2f} for {KAPPA_BASELINE} (target: above)"
    return sentence + "."
