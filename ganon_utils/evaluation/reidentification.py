"""A re-identification attack on the anonymised faces (beyond the paper's section 4.1).

Table 1 compares each anonymised face with its own original only. An attacker instead holds a gallery of
ORIGINAL faces of many people and asks who an anonymised face is: the anonymised face (the probe) is embedded
by the same recogniser, every gallery identity is scored by its closest gallery face (cosine distance), and the
identities are ranked. Rank-1 / rank-5 identification rates are the shares of probes whose true identity comes
first / among the first five; guessing gives ``1 / identities`` and ``5 / identities``.

Two galleries (``GALLERY_MODES``):

- ``same_photo``: every original face, the very photo that was anonymised included (the attacker has the
  unanonymised photo, e.g. a leak of the source data); the easiest case for the attacker.
- ``other_photos``: the probe's own photo is taken out, so only OTHER photos of the same person can match (the
  realistic case: the attacker knows the person from elsewhere). Probes whose identity has no other photo are
  left out of this mode and counted.

Verification: every (anonymised probe, original gallery face) pair is "same person" or "different person";
a threshold on the cosine distance separates them, and the ROC curve / AUC say how well (0.5: no better than
chance; pairs of the probe's own photo are left out in ``other_photos``). Identities come from the stage-01
folder's ``dataset_manifest.csv`` (column ``subject``, per photo); without one each face is its own identity
and only ``same_photo`` can be run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganon_utils.datasets.manifest import photo_subjects
from ganon_utils.evaluation.anonymity import ORIGINAL
from ganon_utils.stages import PathLike

SAME_PHOTO, OTHER_PHOTOS = "same_photo", "other_photos"
GALLERY_MODES = {
    SAME_PHOTO: "gallery holds the very photo that was anonymised",
    OTHER_PHOTOS: "gallery holds only other photos of the same person",
}
"""Gallery mode -> what the gallery holds for a probe's own identity."""
IDENTITY_FROM_SUBJECT, IDENTITY_PER_FACE = "subject", "face"
RANKS = (1, 5)
MAX_IMPOSTOR_PAIRS = 5_000_000
"""Beyond this many different-person pairs a method's ROC uses a seeded random sample of them (large datasets)."""
REID_COLUMNS = [
    "method", "gallery", "probes", "probes_left_out", "gallery_faces", "gallery_identities", "rank1", "rank5",
    "chance_rank1", "chance_rank5", "auc", "same_person_pairs", "different_person_pairs",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------------


Labels = Sequence[str] | np.ndarray
"""Identity or photo names, one per embedding: a list or an object array."""


def face_identities(preprocess_dir: PathLike, faces: pd.DataFrame) -> tuple[pd.Series, str]:
    """Identity per face (index face_id) and where it came from (``subject`` or ``face``).

    With a ``subject`` column in the stage-01 folder's ``dataset_manifest.csv`` (one row per photo, its
    ``image_path`` = stage-01 ``manifest.csv`` ``source``), a face takes its photo's subject when the photo has a
    subject and exactly one face; other faces (no subject; one of several faces of a photo) are each their own
    identity (``face:<face_id>``): distractors in the gallery, never matched across photos. Without the column,
    every face is its own identity (``face``).
    """
    faces = faces.drop_duplicates("face_id")
    own = pd.Series([f"face:{f}" for f in faces["face_id"]], index=faces["face_id"].to_numpy(), name="identity")
    subjects = photo_subjects(preprocess_dir)
    if subjects is None:
        return own, IDENTITY_PER_FACE
    per_photo = faces.groupby("image_id")["face_id"].transform("size").to_numpy()
    subject = faces["image_id"].map(subjects).fillna("").to_numpy()
    labelled = (subject != "") & (per_photo == 1)
    identity = np.where(labelled, np.char.add("subject:", subject.astype(str)), own.to_numpy())
    return pd.Series(identity, index=own.index, name="identity"), IDENTITY_FROM_SUBJECT


# ---------------------------------------------------------------------------------------------------
# Ranking and verification
# ---------------------------------------------------------------------------------------------------


def _unit(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero or non-finite rows become NaN: no direction)."""
    x = np.atleast_2d(np.asarray(embeddings, np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((norms > 0) & np.isfinite(norms), x / norms, np.nan)


def _distance_block(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Cosine distances (probes x gallery) of unit rows; NaN (no direction) becomes +inf: never a match."""
    distance = 1.0 - probes @ gallery.T
    return np.where(np.isnan(distance), np.inf, np.clip(distance, 0.0, 2.0))


def _photo_mask(probe_photos: Labels | None, gallery_photos: Labels | None, n: int, m: int) -> np.ndarray:
    if probe_photos is None or gallery_photos is None:
        raise ValueError("exclude_same_photo needs probe_photos and gallery_photos")
    return np.asarray(probe_photos)[:, None] == np.asarray(gallery_photos)[None, :] if n and m else np.zeros((n, m), bool)


def rank_identification(
    probe_embeddings: np.ndarray,
    probe_ids: Sequence[str],
    gallery_embeddings: np.ndarray,
    gallery_ids: Sequence[str],
    *,
    exclude_same_photo: bool = False,
    probe_photos: Labels | None = None,
    gallery_photos: Labels | None = None,
    chunk: int = 1024,
) -> np.ndarray:
    """For each probe, the rank (1 = first) of its true identity among the gallery identities.

    Each identity is scored by its closest gallery face (cosine distance); an identity tied with the true one is
    ranked ahead of it (the attacker is not given the benefit of a tie). With ``exclude_same_photo``, gallery faces
    of the probe's own photo (``probe_photos`` / ``gallery_photos``) are left out. NaN where the probe's identity has
    no gallery face (left). Embeddings without a direction (all zero) never match.
    """
    probe_labels, gallery_labels = np.asarray(probe_ids, dtype=object), np.asarray(gallery_ids, dtype=object)
    probes, gallery = _unit(probe_embeddings), _unit(gallery_embeddings)
    if len(probes) != len(probe_labels) or len(gallery) != len(gallery_labels):
        raise ValueError("one identity per embedding is needed (probes and gallery)")
    ranks = np.full(len(probe_labels), np.nan)
    if exclude_same_photo and (probe_photos is None or gallery_photos is None):
        raise ValueError("exclude_same_photo needs probe_photos and gallery_photos")
    if not len(probe_labels) or not len(gallery_labels):
        return ranks
    identities, gallery_codes = np.unique(gallery_labels, return_inverse=True)
    order = np.argsort(gallery_codes, kind="stable")
    starts = np.searchsorted(gallery_codes[order], np.arange(len(identities)))
    code_of = {identity: i for i, identity in enumerate(identities)}
    probe_codes = np.array([code_of.get(i, -1) for i in probe_labels])
    for begin in range(0, len(probe_labels), chunk):
        stop = min(begin + chunk, len(probe_labels))
        distance = _distance_block(probes[begin:stop], gallery)
        present = np.ones_like(distance, bool)
        if exclude_same_photo:
            present = ~_photo_mask(np.asarray(probe_photos)[begin:stop], np.asarray(gallery_photos), stop - begin, len(gallery))
            distance = np.where(present, distance, np.inf)
        best = np.minimum.reduceat(distance[:, order], starts, axis=1)  # probes x identities
        available = np.add.reduceat(present[:, order].astype(int), starts, axis=1)
        codes = probe_codes[begin:stop]
        rows = np.arange(stop - begin)
        known = codes >= 0
        true = np.where(known, best[rows, np.maximum(codes, 0)], np.nan)
        ahead = (best <= true[:, None]).sum(axis=1)  # the true identity itself counts once: rank = ahead
        ok = known & (available[rows, np.maximum(codes, 0)] > 0)
        ranks[begin:stop] = np.where(ok, ahead, np.nan)
    return ranks


def identification_rates(ranks: np.ndarray, n_identities: int, ks: Sequence[int] = RANKS) -> dict[str, float]:
    """Rank-k identification rates of ``ranks`` (NaN left out) and their chance levels ``min(1, k / identities)``."""
    ranks = np.asarray(ranks, float)
    ranks = ranks[~np.isnan(ranks)]
    rates: dict[str, float] = {}
    for k in ks:
        rates[f"rank{k}"] = float((ranks <= k).mean()) if len(ranks) else np.nan
        rates[f"chance_rank{k}"] = min(1.0, k / n_identities) if n_identities else np.nan
    return rates


def pair_distances(
    probe_embeddings: np.ndarray,
    probe_ids: Sequence[str],
    gallery_embeddings: np.ndarray,
    gallery_ids: Sequence[str],
    *,
    exclude_same_photo: bool = False,
    probe_photos: Labels | None = None,
    gallery_photos: Labels | None = None,
    max_impostor_pairs: int = MAX_IMPOSTOR_PAIRS,
    seed: int = 0,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Cosine distances of the same-person and the different-person (probe, gallery face) pairs, and the number of
    different-person pairs there are (the returned ones are a seeded random sample when there are more than
    ``max_impostor_pairs``). With ``exclude_same_photo``, pairs of a probe with its own photo are left out."""
    probe_labels, gallery_labels = np.asarray(probe_ids, dtype=object), np.asarray(gallery_ids, dtype=object)
    probes, gallery = _unit(probe_embeddings), _unit(gallery_embeddings)
    same = (
        probe_labels[:, None] == gallery_labels[None, :]
        if len(probe_labels) and len(gallery_labels)
        else np.zeros((len(probe_labels), len(gallery_labels)), bool)
    )
    keep = (
        ~_photo_mask(probe_photos, gallery_photos, len(probe_labels), len(gallery_labels))
        if exclude_same_photo
        else np.ones_like(same)
    )
    n_impostor = int((~same & keep).sum())
    rate = min(1.0, max_impostor_pairs / n_impostor) if n_impostor else 1.0
    rng = np.random.default_rng(seed)
    genuine, impostor = [], []
    for begin in range(0, len(probe_labels), chunk):
        stop = min(begin + chunk, len(probe_labels))
        distance = _distance_block(probes[begin:stop], gallery)
        s, k = same[begin:stop], keep[begin:stop]
        genuine.append(distance[s & k])
        different = distance[~s & k]
        impostor.append(different if rate >= 1.0 else different[rng.random(len(different)) < rate])
    concat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return concat(genuine), concat(impostor), n_impostor


@dataclass(frozen=True)
class Roc:
    """A ROC curve of "same person" decided by ``distance <= threshold``: false and true positive rates per threshold
    (from (0, 0) up to (1, 1)) and the area under it (NaN without pairs of both kinds)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


def verification_roc(same_person: np.ndarray, different_person: np.ndarray) -> Roc:
    """ROC of telling same-person pairs from different-person pairs by their distance (smaller = same person).

    The area is the probability that a random same-person pair is closer than a random different-person pair, ties
    counting one half (the Mann-Whitney statistic; what ``sklearn.metrics.roc_auc_score`` gives for scores
    ``-distance``).
    """
    genuine = np.sort(np.asarray(same_person, float))
    impostor = np.sort(np.asarray(different_person, float))
    if not len(genuine) or not len(impostor):
        return Roc(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([-np.inf, np.inf]), np.nan)
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    tpr = np.concatenate([[0.0], np.searchsorted(genuine, thresholds, side="right") / len(genuine)])
    fpr = np.concatenate([[0.0], np.searchsorted(impostor, thresholds, side="right") / len(impostor)])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids: ties count half
    return Roc(fpr, tpr, np.concatenate([[-np.inf], thresholds]), auc)


# ---------------------------------------------------------------------------------------------------
# The attack on every method
# ---------------------------------------------------------------------------------------------------


@dataclass
class Reidentification:
    """The attack's table (:data:`REID_COLUMNS`, one row per method and gallery mode), its ROC curves ((method, mode)
    -> :class:`Roc`), where identities came from (``subject`` or ``face``) and the number of gallery identities."""

    table: pd.DataFrame
    rocs: dict[tuple[str, str], Roc]
    identity_source: str
    n_identities: int
    faces_per_identity: tuple[int, int] = (0, 0)  # fewest and most gallery faces of one identity
    other_photo_identities: int = 0  # identities with two or more photos (the only ones other_photos can test)


def reidentification_attack(
    embeddings: Mapping[str, Mapping[str, np.ndarray]],
    faces: pd.DataFrame,
    identities: pd.Series,
    identity_source: str,
    *,
    photos: Mapping[str, str] | None = None,
    max_impostor_pairs: int = MAX_IMPOSTOR_PAIRS,
) -> Reidentification:
    """Run the attack for every method of ``embeddings`` (``original`` first: the recogniser on unanonymised faces).

    ``embeddings``: method -> face id -> vector (:class:`~ganon_utils.evaluation.anonymity.IdentityEvaluation`);
    the gallery is ``embeddings["original"]`` restricted to ``faces`` (face_id, image_id: the evaluated faces);
    ``identities``: :func:`face_identities`. Without subjects (``identity_source == "face"``) only ``same_photo`` runs.
    ``photos`` maps an image id to the image id of the photo it derives from (a crop or a copy of it;
    :func:`~ganon_utils.datasets.manifest.photo_groups`), so ``other_photos`` leaves those out with the probe's own.
    """
    photos = photos or {}
    photo_of = {face: photos.get(image, image) for face, image in zip(faces["face_id"], faces["image_id"])}
    gallery_faces = [f for f in faces["face_id"].drop_duplicates() if f in embeddings[ORIGINAL] and f in identities.index]
    gallery = np.stack([embeddings[ORIGINAL][f] for f in gallery_faces]) if gallery_faces else np.zeros((0, 1))
    gallery_ids = identities.loc[gallery_faces].to_numpy(dtype=object)
    gallery_photos = np.array([photo_of[f] for f in gallery_faces], dtype=object)
    n_identities = len(set(gallery_ids))
    modes = [SAME_PHOTO] + ([OTHER_PHOTOS] if identity_source == IDENTITY_FROM_SUBJECT else [])
    rows, rocs = [], {}
    methods = [ORIGINAL] + [m for m in embeddings if m != ORIGINAL]
    for method in methods:
        probe_faces = [f for f in gallery_faces if f in embeddings[method]]
        probes = np.stack([embeddings[method][f] for f in probe_faces]) if probe_faces else np.zeros((0, gallery.shape[1]))
        probe_ids = identities.loc[probe_faces].to_numpy(dtype=object)
        probe_photos = np.array([photo_of[f] for f in probe_faces], dtype=object)
        for mode in modes:
            exclude = mode == OTHER_PHOTOS
            ranks = rank_identification(
                probes, probe_ids, gallery, gallery_ids, exclude_same_photo=exclude, probe_photos=probe_photos,
                gallery_photos=gallery_photos,
            )  # fmt: skip
            genuine, impostor, n_impostor = pair_distances(
                probes, probe_ids, gallery, gallery_ids, max_impostor_pairs=max_impostor_pairs, exclude_same_photo=exclude,
                probe_photos=probe_photos, gallery_photos=gallery_photos,
            )  # fmt: skip
            roc = verification_roc(genuine, impostor)
            rocs[(method, mode)] = roc
            evaluated = int((~np.isnan(ranks)).sum())
            rows.append({
                "method": method, "gallery": mode, "probes": evaluated, "probes_left_out": len(probe_faces) - evaluated,
                "gallery_faces": len(gallery_faces), "gallery_identities": n_identities,
                **identification_rates(ranks, n_identities), "auc": roc.auc,
                "same_person_pairs": len(genuine), "different_person_pairs": n_impostor,
            })  # fmt: skip
    counts = pd.Series(gallery_ids, dtype=object).value_counts()
    photos_per_identity = pd.Series(gallery_photos, dtype=object).groupby(pd.Series(gallery_ids, dtype=object)).nunique()
    return Reidentification(
        pd.DataFrame(rows, columns=REID_COLUMNS), rocs, identity_source, n_identities,
        (int(counts.min()), int(counts.max())) if len(counts) else (0, 0), int((photos_per_identity >= 2).sum()),
    )  # fmt: skip


def reidentification_caption(result: Reidentification) -> str:
    """What the table holds, in two or three sentences for the report (identities, gallery, modes, left-out probes)."""
    table = result.table
    gallery = int(table["gallery_faces"].iloc[0]) if len(table) else 0
    text = (f"Gallery: the {gallery:,} original faces of the evaluated split(s), {result.n_identities:,} identities; "
            "each anonymised face is a probe; rank-k = share of probes whose identity is among the k closest gallery "
            "identities (closest face per identity), chance = k / identities. ")  # fmt: skip
    if result.identity_source == IDENTITY_PER_FACE:
        return text + ("The dataset names no subjects (no `subject` column in `dataset_manifest.csv`), so each face is its "
                       "own identity and only the `same_photo` gallery can be run: it asks whether the anonymised face is "
                       "still matched to its own original among all others. The `other_photos` gallery (other photos of "
                       "the same person) needs identities.")  # fmt: skip
    other = table[table["gallery"] == OTHER_PHOTOS]
    left = int(other["probes_left_out"].max()) if len(other) else 0
    probes = int(other["probes"].max()) if len(other) else 0
    text += (f"Identities from the `subject` column of `dataset_manifest.csv` (faces without one, or one of several in "
             f"a photo, are their own identity). `other_photos` leaves the probe's own photo out of the gallery; "
             f"{left:,} probes per method whose identity has no other photo are left out of it (`probes_left_out`), so it "
             f"rests on {probes:,} probes of {result.other_photo_identities:,} identit"
             f"{'y' if result.other_photo_identities == 1 else 'ies'}.")  # fmt: skip
    fewest, most = result.faces_per_identity
    if most > fewest:
        text += (f" Identities have {fewest:,} to {most:,} gallery faces: scoring each by its closest face favours those "
                 "with many, so a probe that carries no identity still lands on them more often than the chance level "
                 "says; read a rate against the `original` and blur rows, and a handful of probes as anecdotal.")  # fmt: skip
    return text


def reidentification_headline(result: Reidentification) -> str:
    """One sentence for the results index: rank-1 per method in the hardest gallery that ran, with the chance level."""
    table = result.table
    mode = OTHER_PHOTOS if (table["gallery"] == OTHER_PHOTOS).any() else SAME_PHOTO
    rows = table[(table["gallery"] == mode) & (table["method"] != ORIGINAL)]
    if rows.empty:
        return ""
    from ganon_utils.evaluation.figures import method_title

    values = ", ".join(f"{method_title(m)} {r:.2f}" for m, r in zip(rows["method"], rows["rank1"]))
    return (f"Re-identification attack ({GALLERY_MODES[mode]}): rank-1 identification rate {values} "
            f"(chance {rows['chance_rank1'].iloc[0]:.2f}).")  # fmt: skip
