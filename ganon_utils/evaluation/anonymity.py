"""Anonymity evaluation (paper section 4.1, Table 1): identity distance between original and anonymised faces.

For every stage-01 face and every method, the original face and the method's face (same face id, from
stage 03) are embedded by one recogniser (:mod:`ganon_utils.evaluation.identity`) and compared by cosine
distance. Table 1 is the mean per method; the share of faces above the re-identification threshold
(0.3 in the paper) says how many could no longer be matched to their original. ``faces_averaged`` says over
which faces: each method's own (``per_method``, this package's default) or only the faces every method has a
distance for (``common``: the authors' ``lib/analysis.py`` skipped a validation face unless every method had
produced it).

Embeddings are cached per recogniser and method (``<cache_dir>/<recognizer>/<method>.npz``), keyed by face
id and the face file's size and modification time, so an interrupted or repeated evaluation only embeds
what is new or changed. A cache also records the recogniser's input settings (``settings``: for SFace, its
alignment) and, per face, the YuNet row it was aligned on and where that row came from (``alignment``:
``own``, the ``original``'s when YuNet found no face in an anonymised one, or ``resized`` when there was
none at all); a cache made with other settings, or a borrowed row that no longer matches the original's,
is embedded again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganon_utils.atomic_files import atomic_path
from ganon_utils.evaluation.identity import YUNET_ROW, FaceEmbedder, cosine_distance, embedder_aligns
from ganon_utils.image_io import ImageLoadError, load_image
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.progress import progress_bar
from ganon_utils.stages import (
    ANONYMIZED_STATUSES,
    STATUS_NOT_ANONYMIZED,
    STATUS_OK,
    STATUS_UNREADABLE,
    PathLike,
)

ORIGINAL = "original"
"""The row of Table 1 that compares each original face with itself (distance 0 by construction)."""
REIDENTIFICATION_THRESHOLD = 0.3
"""Cosine distance above which the paper counts a face as not re-identifiable."""
PAPER_TABLE1 = {
    "original": 0.0, "ganonymization": 0.7145, "deepprivacy2": 0.8119, "ciagan": 0.9280,
    "pixel8": 0.8791, "pixel16": 0.6651, "blur9": 0.0102, "blur17": 0.0725,
}  # fmt: skip
"""Mean cosine distance per method in the paper's Table 1 (Facenet512, WIDER FACE validation faces)."""

DISTANCE_COLUMNS = ["face_id", "image_id", "split", "method", "status", "message", "distance", "alignment"]
ALIGN_OWN, ALIGN_ORIGINAL, ALIGN_RESIZED = "own", "original", "resized"
"""Where an aligning recogniser's landmarks for a face came from: its own detection, its original face's (none found
in the anonymised face), or nowhere (the crop resized whole). Empty for recognisers that take the crop whole."""


# ---------------------------------------------------------------------------------------------------
# Embeddings with a per-file cache
# ---------------------------------------------------------------------------------------------------


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns): changes when a face file is rewritten."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class CacheEntry:
    """One cached face: the file stamp it was embedded from, its embedding, and the alignment it was embedded with."""

    stamp: tuple[int, int]
    embedding: np.ndarray
    row: np.ndarray | None = None  # the YuNet row it was aligned on (None: none)
    alignment: str = ""  # ALIGN_OWN, ALIGN_ORIGINAL, ALIGN_RESIZED, or "" (no alignment)


def embedder_settings(embedder: FaceEmbedder) -> str:
    """What an embedding depends on besides the face file (a cache made with other settings is not reused)."""
    return str(getattr(embedder, "settings", ""))


def read_embedding_cache(path: Path, settings: str | None = None) -> dict[str, CacheEntry]:
    """face id -> :class:`CacheEntry` from a cache file; empty when there is none, or when ``settings`` is given and
    the file was made with other settings (caches from before settings were recorded count as ``""``)."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if settings is not None and (str(data["settings"]) if "settings" in data else "") != settings:
            return {}
        ids, stamps, vectors = data["face_ids"], data["stamps"], data["embeddings"]
        rows = data["rows"] if "rows" in data else np.full((len(ids), YUNET_ROW), np.nan, np.float32)
        alignment = data["alignment"] if "alignment" in data else np.full(len(ids), "")
    return {
        str(i): CacheEntry((int(s[0]), int(s[1])), v, r if np.isfinite(r).all() else None, str(a))
        for i, s, v, r, a in zip(ids, stamps, vectors, rows, alignment)
    }


def write_embedding_cache(path: Path, cache: Mapping[str, CacheEntry], settings: str = "") -> None:
    """Write the cache atomically (a crash leaves the previous file)."""
    if not cache:
        return
    ids = sorted(cache)
    nan_row = np.full(YUNET_ROW, np.nan, np.float32)
    with atomic_path(path, fsync=False) as temp:
        with open(temp, "wb") as handle:
            np.savez(
                handle, face_ids=np.asarray(ids, dtype=str), stamps=np.asarray([cache[i].stamp for i in ids], np.int64),
                embeddings=np.stack([cache[i].embedding for i in ids]).astype(np.float32), settings=np.asarray(settings),
                rows=np.stack([nan_row if (row := cache[i].row) is None else row for i in ids]).astype(np.float32),
                alignment=np.asarray([cache[i].alignment for i in ids], dtype=str),
            )  # fmt: skip


def _same_row(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(np.float32(a), np.float32(b)))


@dataclass
class EmbeddedFaces:
    """Embeddings of face files; for an aligning recogniser also the row each face was aligned on and its source."""

    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # face id -> why the file could not be read
    rows: dict[str, np.ndarray | None] = field(default_factory=dict)
    alignment: dict[str, str] = field(default_factory=dict)  # face id -> ALIGN_* ("" without alignment)


def embed_faces(
    files: Mapping[str, Path],
    embedder: FaceEmbedder,
    *,
    cache_path: Path | None = None,
    batch_size: int = 32,
    save_every: int = 2048,
    advance: Callable[[int], Any] = lambda n: None,
    fallback_rows: Mapping[str, np.ndarray | None] | None = None,
) -> EmbeddedFaces:
    """Embeddings of face files (face id -> path); files that could not be read are in ``errors``.

    An aligning recogniser (:func:`~ganon_utils.evaluation.identity.embedder_aligns`, SFace with YuNet) aligns each
    face on its own detection; where it finds none, on ``fallback_rows[face_id]`` (the original face's detection, for
    anonymised faces), else the face is resized whole. Files whose size and modification time match the cache (made
    with the same settings; a borrowed row still the original's) are not embedded again; the cache is rewritten every
    ``save_every`` new embeddings and at the end.
    """
    settings = embedder_settings(embedder)
    aligns = embedder_aligns(embedder)
    fallback_rows = fallback_rows or {}
    cache = read_embedding_cache(cache_path, settings) if cache_path is not None else {}
    result = EmbeddedFaces()
    todo: list[tuple[str, Path, tuple[int, int]]] = []
    for face_id, path in files.items():
        try:
            stamp = file_stamp(path)
        except OSError as error:
            result.errors[face_id] = f"{path}: {error.strerror or error}"
            continue
        cached = cache.get(face_id)
        # an own detection depends on the file only; a borrowed one on the original's too
        if (
            cached is not None
            and cached.stamp == stamp
            and (not aligns or cached.alignment == ALIGN_OWN or _same_row(cached.row, fallback_rows.get(face_id)))
        ):
            result.embeddings[face_id], result.rows[face_id], result.alignment[face_id] = (
                cached.embedding,
                cached.row,
                cached.alignment,
            )
        else:
            todo.append((face_id, path, stamp))
    advance(len(files) - len(todo))
    unsaved = 0
    for start in range(0, len(todo), batch_size):
        batch, images, rows = [], [], []
        for face_id, path, stamp in todo[start : start + batch_size]:
            try:
                images.append(load_image(path).rgb)
            except ImageLoadError as error:
                result.errors[face_id] = str(error)
                continue
            row, source = None, ""
            if aligns:
                row, source = embedder.detect_face(images[-1]), ALIGN_OWN  # type: ignore[attr-defined]
                if row is None:
                    row = fallback_rows.get(face_id)
                    source = ALIGN_ORIGINAL if row is not None else ALIGN_RESIZED
            rows.append(row)
            batch.append((face_id, stamp, row, source))
        vectors: Sequence[np.ndarray] | np.ndarray = []
        if images:  # an aligning embedder (SFace) takes the detector rows too
            vectors = embedder.embed(images, rows) if aligns else embedder.embed(images)  # type: ignore[call-arg]
        for (face_id, stamp, row, source), vector in zip(batch, vectors):
            result.embeddings[face_id], result.rows[face_id], result.alignment[face_id] = vector, row, source
            cache[face_id] = CacheEntry(stamp, vector, row, source)
        unsaved += len(batch)
        if cache_path is not None and unsaved >= save_every:
            write_embedding_cache(cache_path, cache, settings)
            unsaved = 0
        advance(min(batch_size, len(todo) - start))
    if cache_path is not None and unsaved:
        write_embedding_cache(cache_path, cache, settings)
    return result


def embed_files(
    files: Mapping[str, Path],
    embedder: FaceEmbedder,
    *,
    cache_path: Path | None = None,
    batch_size: int = 32,
    save_every: int = 2048,
    advance: Callable[[int], Any] = lambda n: None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embeddings of face files (face id -> path) and, for files that could not be read, face id -> reason
    (:func:`embed_faces` without a fallback alignment)."""
    done = embed_faces(files, embedder, cache_path=cache_path, batch_size=batch_size, save_every=save_every, advance=advance)
    return done.embeddings, done.errors


# ---------------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------------


def read_method_manifest(anonymized_dir: PathLike, method: str) -> pd.DataFrame:
    """Stage 03's manifest of ``method``; FileNotFoundError saying how to make it."""
    path = Path(anonymized_dir) / method / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: anonymise the faces with '{method}' first (notebooks/03_anonymize.ipynb or "
            f"python -m ganon_utils anonymize STAGE01_FOLDER {Path(anonymized_dir)} --method {method})"
        )
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    return manifest


def anonymized_face_files(anonymized_dir: PathLike, method: str, manifest: pd.DataFrame | None = None) -> dict[str, Path]:
    """face id -> file of every face ``method`` anonymised (its stage-03 manifest, read here unless given)."""
    if manifest is None:
        manifest = read_method_manifest(anonymized_dir, method)
    done = manifest[manifest["status"].isin(ANONYMIZED_STATUSES) & (manifest["face_path"] != "")]
    return {f: Path(anonymized_dir) / method / p for f, p in zip(done["face_id"], done["face_path"])}


@dataclass
class IdentityEvaluation:
    """The per-face distance table and the embeddings it came from (``original`` and each method: face id -> vector),
    which the re-identification attack reuses (:mod:`ganon_utils.evaluation.reidentification`)."""

    distances: pd.DataFrame
    embeddings: dict[str, dict[str, np.ndarray]]


def identity_evaluation(
    preprocess_dir: PathLike,
    anonymized_dir: PathLike,
    methods: Sequence[str],
    embedder: FaceEmbedder,
    *,
    splits: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> IdentityEvaluation:
    """One row per (stage-01 face, method): cosine distance between the original and the method's face, with the
    embeddings.

    The first method block is ``original`` (each face with itself). A face a method did not anonymise
    (its stage-03 status) or whose file cannot be read gets a row with that status and no distance,
    so nothing is silently dropped from the table. ``splits`` keeps only those stage-01 splits. Column
    ``alignment`` says, for an aligning recogniser, whose landmarks each face was aligned on (``ALIGN_*``).
    """
    preprocess_dir, anonymized_dir = Path(preprocess_dir), Path(anonymized_dir)
    faces, _ = read_stage_outputs(preprocess_dir)
    faces = faces[(faces["face_path"] != "") & (faces["split"].isin(splits) if splits is not None else True)]
    if splits is not None and faces.empty:
        raise ValueError(f"{preprocess_dir} has no faces in splits {list(splits)}")
    manifests = {method: read_method_manifest(anonymized_dir, method) for method in methods}  # all present first
    cache_root = None if cache_dir is None else Path(cache_dir) / embedder.name

    def cache_for(name: str) -> Path | None:
        return None if cache_root is None else cache_root / f"{name}.npz"

    wanted = set(faces["face_id"])
    n_files = len(faces) + sum(
        int((m["status"].isin(ANONYMIZED_STATUSES) & m["face_id"].isin(wanted)).sum()) for m in manifests.values()
    )
    bar = progress_bar(total=n_files, desc=f"identity embeddings ({embedder.name})", unit="face", disable=not progress)
    embeddings: dict[str, dict[str, np.ndarray]] = {}
    try:
        original_files = {f: preprocess_dir / p for f, p in zip(faces["face_id"], faces["face_path"])}
        originals = embed_faces(
            original_files, embedder, cache_path=cache_for(ORIGINAL), batch_size=batch_size, advance=bar.update
        )
        embeddings[ORIGINAL] = originals.embeddings
        rows = _distance_rows(faces, ORIGINAL, originals.embeddings, originals, originals.errors, {})
        for method, manifest in manifests.items():
            manifest = manifest[manifest["face_id"].isin(original_files)]
            files = anonymized_face_files(anonymized_dir, method, manifest)
            anonymized = embed_faces(
                files, embedder, cache_path=cache_for(method), batch_size=batch_size, advance=bar.update,
                fallback_rows=originals.rows,
            )  # fmt: skip
            embeddings[method] = anonymized.embeddings
            reasons = {f: f"{method}: {s}" + (f" ({m})" if m else "") for f, s, m in
                       zip(manifest["face_id"], manifest["status"], manifest["message"])}  # fmt: skip
            rows += _distance_rows(
                faces, method, originals.embeddings, anonymized, {**originals.errors, **anonymized.errors}, reasons
            )
    finally:
        bar.close()
    return IdentityEvaluation(pd.DataFrame(rows, columns=DISTANCE_COLUMNS), embeddings)


def identity_distances(
    preprocess_dir: PathLike,
    anonymized_dir: PathLike,
    methods: Sequence[str],
    embedder: FaceEmbedder,
    *,
    splits: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> pd.DataFrame:
    """The distance table of :func:`identity_evaluation` (without the embeddings)."""
    return identity_evaluation(
        preprocess_dir, anonymized_dir, methods, embedder, splits=splits, cache_dir=cache_dir, batch_size=batch_size,
        progress=progress,
    ).distances  # fmt: skip


def _distance_rows(
    faces: pd.DataFrame,
    method: str,
    originals: Mapping[str, np.ndarray],
    anonymized: EmbeddedFaces,
    errors: Mapping[str, str],
    reasons: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Rows of one method, in stage-01 order."""
    rows = []
    for face in faces.itertuples(index=False):
        row = {"face_id": face.face_id, "image_id": face.image_id, "split": face.split, "method": method,
               "status": STATUS_OK, "message": "", "distance": np.nan,
               "alignment": anonymized.alignment.get(face.face_id, "")}  # fmt: skip
        if face.face_id in errors:
            row.update(status=STATUS_UNREADABLE, message=errors[face.face_id])
        elif face.face_id in originals and face.face_id in anonymized.embeddings:
            # The original block compares each face with itself: 0 by definition, not float rounding noise.
            vector = anonymized.embeddings[face.face_id]
            row["distance"] = 0.0 if method == ORIGINAL else float(cosine_distance(originals[face.face_id], vector)[0])
        else:
            row.update(status=STATUS_NOT_ANONYMIZED, message=reasons.get(face.face_id, f"{method}: no entry in its manifest"))
        rows.append(row)
    return rows


def alignment_note(distances: pd.DataFrame) -> str:
    """One sentence for the report: how an aligning recogniser's faces were aligned, and for how many anonymised faces
    the original's detection was borrowed (per method); empty for recognisers that take the crop whole."""
    if "alignment" not in distances or not (distances["alignment"].fillna("") != "").any():
        return ""
    originals = distances[distances["method"] == ORIGINAL]
    anonymised = distances[(distances["method"] != ORIGINAL) & (distances["alignment"].fillna("") != "")]
    borrowed = anonymised[anonymised["alignment"] == ALIGN_ORIGINAL].groupby("method", sort=False).size()
    per_method = ", ".join(f"{m} {n:,}" for m, n in borrowed.items())
    text = (
        f"Each face was aligned with FaceRecognizerSF.alignCrop on the five points YuNet detected in it; YuNet found no face "
        f"in {int(borrowed.sum()):,} of the {len(anonymised):,} anonymised faces, which were aligned on their original's "
        f"detection instead" + (f" ({per_method})" if per_method else "") + "."
    )
    resized = int((originals["alignment"] == ALIGN_RESIZED).sum())
    resized_anon = int((anonymised["alignment"] == ALIGN_RESIZED).sum())
    if resized or resized_anon:
        text += (f" YuNet found no face in {resized:,} of the {len(originals):,} original faces; those, and {resized_anon:,} "
                 "anonymised faces without a detection of their own or of their original, were resized whole to 112 px.")  # fmt: skip
    return text


FACES_AVERAGED = ("per_method", "common")
"""Which faces Table 1 averages over: each method's own, or those every method has a distance for (the authors')."""


def common_face_ids(distances: pd.DataFrame) -> list[str]:
    """Faces (in table order) with a distance for every method of ``distances``: the intersection of the methods."""
    n_methods = distances["method"].nunique()
    counts = distances.dropna(subset=["distance"]).groupby("face_id")["method"].nunique()
    complete = set(counts.index[counts == n_methods])
    return [f for f in distances["face_id"].drop_duplicates() if f in complete]


def averaged_distances(distances: pd.DataFrame, faces_averaged: str = "per_method") -> pd.DataFrame:
    """The rows of ``distances`` that Table 1 averages: all (``per_method``) or the :func:`common_face_ids`."""
    if faces_averaged not in FACES_AVERAGED:
        raise ValueError(f"faces_averaged must be one of {list(FACES_AVERAGED)}, got {faces_averaged!r}")
    if faces_averaged == "per_method":
        return distances
    return distances[distances["face_id"].isin(set(common_face_ids(distances)))]


def summarize_identity(
    distances: pd.DataFrame, threshold: float = REIDENTIFICATION_THRESHOLD, faces_averaged: str = "per_method"
) -> pd.DataFrame:
    """Table 1: per method the mean cosine distance, its spread, the share above ``threshold`` and the paper's mean.

    ``faces`` counts the faces averaged (:func:`averaged_distances`); ``not_evaluated`` the method's faces
    without a distance (its stage-03 status or an unreadable file), whichever faces are averaged.
    """
    averaged = averaged_distances(distances, faces_averaged)
    missing = distances["distance"].isna().groupby(distances["method"], sort=False).sum()
    rows = []
    for method in distances["method"].unique():
        values = averaged.loc[averaged["method"] == method, "distance"].dropna()
        rows.append({
            "method": method, "faces": len(values), "not_evaluated": int(missing[method]),
            "mean_distance": values.mean(), "std": values.std(), "median": values.median(),
            f"share_above_{threshold:g}": (values > threshold).mean() if len(values) else np.nan,
            "paper_mean_distance": PAPER_TABLE1.get(method, np.nan),
        })  # fmt: skip
    return pd.DataFrame(rows)


def table1_caption(distances: pd.DataFrame, faces_averaged: str = "per_method") -> str:
    """Which faces Table 1 averaged, with their count and split(s), in one sentence for the report."""
    averaged = averaged_distances(distances, faces_averaged).dropna(subset=["distance"])
    total = distances["face_id"].nunique()
    names = sorted(map(str, distances["split"].drop_duplicates()))
    splits = ("splits " if len(names) > 1 else "split ") + (", ".join(f"`{n}`" for n in names) or "none")
    if faces_averaged == "common":
        n = averaged["face_id"].nunique()
        return (f"Means over the {n:,} faces ({splits}) that every method has a distance for, as the authors' "
                f"code averaged (the faces every method produced); {total - n:,} of the {total:,} faces lack one for "
                "at least one method and are left out of every row.")  # fmt: skip
    counts = averaged.groupby("method")["face_id"].nunique()
    if counts.empty:
        return f"No face of the {total:,} ({splits}) has a distance."
    span = f"{counts.min():,}" if counts.min() == counts.max() else f"{counts.min():,} to {counts.max():,}"
    return (f"Means per method over its own faces with a distance ({span} of the {total:,} faces, {splits}; "
            "column `faces`).")  # fmt: skip
