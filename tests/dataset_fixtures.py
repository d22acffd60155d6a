"""Tiny copies of each dataset's original on-disk layout, with real (8x8) image files.

Each ``make_*`` function writes a tree below ``root`` exactly as the dataset is distributed
(annotation formats included, quirks such as WIDER FACE's zero-face placeholder line and
CelebA's double spaces) and returns what an adapter should find there, so tests compare the
manifest with facts stated here rather than with the adapter's own logic.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def image_bytes(kind: str = "jpg", seed: int = 0, grey: bool = False) -> bytes:
    """A real 8x8 image file (JPEG or PNG) whose pixels depend on ``seed``."""
    rng = np.random.default_rng(seed)
    mode, shape = ("L", (8, 8)) if grey else ("RGB", (8, 8, 3))
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if kind == "png" else "JPEG")
    return buffer.getvalue()


def write_image(path: Path, seed: int = 0, grey: bool = False) -> None:
    """Write a tiny image at ``path``; the suffix picks PNG or JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes("png" if path.suffix.lower() == ".png" else "jpg", seed, grey))


def tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file below ``root`` -> (size, mtime in ns, SHA-256): compared before/after a load."""
    state = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        state[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


# --------------------------------------------------------------------------------------- CelebA
@dataclass
class CelebAFixture:
    root: Path
    image_dir: str
    splits: dict[str, str]  # file -> split
    attributes: dict[str, list[int]]  # file -> 40 values in -1/1
    identities: dict[str, str]
    missing: list[str] = field(default_factory=list)


def make_celeba(root: Path, layout: str = "flat", with_identity: bool = True, missing: int = 0) -> CelebAFixture:
    """CelebA with 7 images; ``layout="drive"`` uses the Google Drive folders Img/ Anno/ Eval/.

    The last ``missing`` images are listed in the annotation files but not written.
    """
    image_dir = "img_align_celeba" if layout == "flat" else "Img/img_align_celeba"
    anno = "" if layout == "flat" else "Anno/"
    evaluation = "" if layout == "flat" else "Eval/"
    files = [f"{i:06d}.jpg" for i in range(1, 8)]
    codes = [0, 0, 0, 1, 1, 2, 2]
    rng = np.random.default_rng(7)
    values = rng.choice([-1, 1], size=(len(files), 40))
    values[0] = 1  # image 1: every attribute present
    values[1] = -1  # image 2: none
    split_names = {0: "train", 1: "val", 2: "test"}
    for i, name in enumerate(files[: len(files) - missing]):
        write_image(root / image_dir / name, seed=i)
    (root / evaluation).mkdir(parents=True, exist_ok=True)
    (root / f"{evaluation}list_eval_partition.txt").write_text("".join(f"{name} {code}\n" for name, code in zip(files, codes)))
    # Original formatting: count, names with a trailing space, values padded to width 2 and
    # separated by one space (so "-1  1" has two spaces), file name followed by one space.
    lines = [str(len(files)), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(f"{v:2d}" for v in row) for name, row in zip(files, values)]
    (root / anno).mkdir(parents=True, exist_ok=True)
    (root / f"{anno}list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    identities = {name: str(100 + i // 2) for i, name in enumerate(files)}
    if with_identity:
        (root / f"{anno}identity_CelebA.txt").write_text("".join(f"{n} {s}\n" for n, s in identities.items()))
    return CelebAFixture(
        root=root,
        image_dir=image_dir,
        splits={name: split_names[code] for name, code in zip(files, codes)},
        attributes={name: row.tolist() for name, row in zip(files, values)},
        identities=identities if with_identity else {},
        missing=[f"{image_dir}/{name}" for name in files[len(files) - missing :]],
    )


# ---------------------------------------------------------------------------------- WIDER FACE
@dataclass
class WiderFixture:
    root: Path
    faces: dict[str, int]  # image_path -> annotated face count (-1: not annotated)
    valid: dict[str, int]  # image_path -> faces with invalid == 0
    missing: list[str]  # annotated but not on disk
    unannotated: list[str]  # on disk but not annotated (train/val)


def _face_line(x: int, invalid: int = 0) -> str:
    # x1 y1 w h blur expression illumination invalid occlusion pose, trailing space as in the original
    return f"{x} {x + 1} 20 24 1 0 0 {invalid} 1 0 "


def make_wider(root: Path, with_test: bool = True) -> WiderFixture:
    """WIDER FACE with a 3-face image, a 0-face image (placeholder line), an invalid face,
    an annotated image missing on disk and an image on disk without annotation."""
    # image name -> invalid flag of each annotated face
    train = {
        "0--Parade/0_Parade_marchingband_1_5.jpg": [0, 0, 1],
        "0--Parade/0_Parade_Parade_0_452.jpg": [],
        "12--Group/12_Group_Group_12_Group_Group_12_10.jpg": [0],
        "12--Group/12_Group_Group_12_Group_Group_12_missing.jpg": [0, 0],
    }
    val = {
        "0--Parade/0_Parade_marchingband_1_20.jpg": [0, 0],
        "7--Cheering/7_Cheering_Cheering_7_16.jpg": [],
    }
    missing_on_disk = {"train": "12--Group/12_Group_Group_12_Group_Group_12_missing.jpg"}
    faces, valid, missing = {}, {}, []
    for split, images in (("train", train), ("val", val)):
        lines = []
        for name, flags in images.items():
            lines += [name, str(len(flags))]
            lines += [_face_line(10 + 30 * k, invalid) for k, invalid in enumerate(flags)]
            if not flags:
                lines.append("0 0 0 0 0 0 0 0 0 0 ")  # the zero-face quirk: one placeholder line
            path = f"WIDER_{split}/images/{name}"
            if missing_on_disk.get(split) == name:
                missing.append(path)
                continue
            write_image(root / path, seed=len(faces))
            faces[path] = len(flags)
            valid[path] = flags.count(0)
        (root / "wider_face_split").mkdir(parents=True, exist_ok=True)
        (root / f"wider_face_split/wider_face_{split}_bbx_gt.txt").write_text("\n".join(lines) + "\n")
    extra = "WIDER_train/images/12--Group/12_Group_not_in_annotations.jpg"
    write_image(root / extra, seed=99)
    faces[extra], valid[extra] = -1, -1
    if with_test:
        test = "WIDER_test/images/3--Riot/3_Riot_Riot_3_1.jpg"
        write_image(root / test, seed=100)
        (root / "wider_face_split/wider_face_test_filelist.txt").write_text("3--Riot/3_Riot_Riot_3_1.jpg\n")
        faces[test], valid[test] = -1, -1
    return WiderFixture(root, faces, valid, missing, [extra])


# ----------------------------------------------------------------------------------- AffectNet
AFFECTNET_NAMES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


@dataclass
class AffectNetFixture:
    root: Path
    labels: dict[str, str]  # image_path -> expected label (codes 0-7 only)
    splits: dict[str, str]
    excluded: dict[str, int]  # none / uncertain / no_face counts
    missing: list[str] = field(default_factory=list)


def make_affectnet_csv(root: Path, header: str = "plain") -> AffectNetFixture:
    """Original AffectNet: Manually_Annotated_Images/ + training.csv/validation.csv.

    ``header``: ``"plain"`` (subDirectory_filePath,...), ``"hash"`` (#subDirectory_filePath,...)
    or ``"none"`` (no header row).
    """
    columns = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    codes = {"train": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 8], "val": [7, 6, 5, 4, 3, 2, 1, 0, 9, 10]}
    labels, splits, excluded, missing = {}, {}, {"none": 0, "uncertain": 0, "no_face": 0}, []
    reasons = {8: "none", 9: "uncertain", 10: "no_face"}
    for split, list_name in (("train", "training.csv"), ("val", "validation.csv")):
        lines = [] if header == "none" else [("#" if header == "hash" else "") + columns]
        for i, code in enumerate(codes[split]):
            sub = f"{100 + i % 3}/{hashlib.sha1(f'{split}{i}'.encode()).hexdigest()}.jpg"
            landmarks = ";".join(str(v) for v in range(10))
            lines.append(f"{sub},10,12,80,80,{landmarks},{code},0.25,-0.5")
            path = f"Manually_Annotated_Images/{sub}"
            if split == "train" and i == 2:  # listed, never downloaded
                missing.append(path)
                continue
            write_image(root / path, seed=i)
            if code in reasons:
                excluded[reasons[code]] += 1
            else:
                labels[path], splits[path] = AFFECTNET_NAMES[code], split
        (root / "Manually_Annotated_file_lists").mkdir(parents=True, exist_ok=True)
        (root / "Manually_Annotated_file_lists" / list_name).write_text("\n".join(lines) + "\n")
    return AffectNetFixture(root, labels, splits, excluded, missing)


def make_affectnet_npy(root: Path) -> AffectNetFixture:
    """Later AffectNet: {train_set,val_set}/images/<n>.jpg + annotations/<n>_{exp,val,aro,lnd}.npy.

    Expression codes are stored as numpy strings (as distributed) except a few stored as ints.
    """
    codes = {"train": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3], "val": [7, 0, 10, 5]}
    labels, splits, excluded = {}, {}, {"none": 0, "uncertain": 0, "no_face": 0}
    reasons = {8: "none", 9: "uncertain", 10: "no_face"}
    for split, folder in (("train", "train_set"), ("val", "val_set")):
        for n, code in enumerate(codes[split]):
            stem = str(n * 7 + (0 if split == "train" else 1000))
            write_image(root / folder / "images" / f"{stem}.jpg", seed=n)
            annotations = root / folder / "annotations"
            annotations.mkdir(parents=True, exist_ok=True)
            np.save(annotations / f"{stem}_exp.npy", np.array(code) if n % 4 == 3 else np.array(str(code)))
            np.save(annotations / f"{stem}_val.npy", np.array("0.25"))
            np.save(annotations / f"{stem}_aro.npy", np.array("-0.5"))
            np.save(annotations / f"{stem}_lnd.npy", np.arange(136, dtype=np.float64))
            path = f"{folder}/images/{stem}.jpg"
            if code in reasons:
                excluded[reasons[code]] += 1
            else:
                labels[path], splits[path] = AFFECTNET_NAMES[code], split
    return AffectNetFixture(root, labels, splits, excluded)


# ----------------------------------------------------------------------------------------- CK+
CKPLUS_NAMES = {1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sadness", 7: "surprise"}


@dataclass
class CKPlusFixture:
    root: Path
    labels: dict[str, str]  # peak-frame image_path -> label
    subjects: dict[str, str]
    n_neutral: int
    unlabelled_frames: list[str]


def make_ckplus(root: Path, n_subjects: int = 20) -> CKPlusFixture:
    """CK+ with ``n_subjects`` subjects, 1-3 sequences each, 3 PNG frames per sequence.

    Most sequences carry an emotion file for their last frame (codes cycling 1-7, written as
    the original's ``   3.0000000e+00``); every third subject has one unlabelled sequence, and
    one sequence is labelled 0 (neutral), which the paper's 7-class setup does not use.
    """
    labels, subjects, unlabelled, n_neutral = {}, {}, [], 0
    code_cycle = 0
    for s in range(n_subjects):
        subject = f"S{5 + s * 3:03d}"
        for q in range(1 + s % 3):
            sequence = f"{q + 1:03d}"
            frames = [f"{subject}_{sequence}_{f:08d}.png" for f in (1, 2, 3 + q)]
            for f, frame in enumerate(frames):
                write_image(root / "cohn-kanade-images" / subject / sequence / frame, seed=s * 10 + f, grey=True)
            peak = frames[-1]
            path = f"cohn-kanade-images/{subject}/{sequence}/{peak}"
            if s % 3 == 2 and q == 0:
                unlabelled.extend(f"cohn-kanade-images/{subject}/{sequence}/{fr}" for fr in frames)
                continue
            if s == 1 and q == 1:
                code = 0
                n_neutral += 1
            else:
                code = code_cycle % 7 + 1
                code_cycle += 1
                labels[path], subjects[path] = CKPLUS_NAMES[code], subject
            label_dir = root / "Emotion" / subject / sequence
            label_dir.mkdir(parents=True, exist_ok=True)
            (label_dir / f"{peak[:-4]}_emotion.txt").write_text(f"   {code:.7e}\n")
    (root / "cohn-kanade-images" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return CKPlusFixture(root, labels, subjects, n_neutral, unlabelled)


# --------------------------------------------------------------------------------------- FACES
FACES_NAMES = {"n": "neutral", "h": "happy", "s": "sad", "f": "fear", "d": "disgust", "a": "anger"}


@dataclass
class FacesFixture:
    root: Path
    labels: dict[str, str]
    subjects: dict[str, str]
    skipped: list[str]


def make_faces(root: Path, n_subjects: int = 15) -> FacesFixture:
    """FACES in ``bilder/``: ``n_subjects`` x 6 emotions x sets a/b, plus one unrelated image."""
    labels, subjects = {}, {}
    ages, genders = "ymo", "mf"
    for s in range(n_subjects):
        subject = f"{4 + s * 11:03d}"
        for code, name in FACES_NAMES.items():
            for picture_set in "ab":
                file = f"{subject}_{ages[s % 3]}_{genders[s % 2]}_{code}_{picture_set}.jpg"
                path = f"bilder/{file}"
                write_image(root / path, seed=s)
                labels[path], subjects[path] = name, subject
    other = "bilder/FACES_logo.jpg"
    write_image(root / other, seed=1)
    return FacesFixture(root, labels, subjects, [other])


# ------------------------------------------------------------------------------------- generic
def make_class_folders(root: Path, with_splits: bool = False) -> dict[str, tuple[str, str]]:
    """root/<Class>/*.jpg (or root/{train,val}/<Class>/...) -> {image_path: (split, label)}."""
    expected = {}
    classes = {"Happy": 6, "Sad": 5, "neutral": 4}
    for label, count in classes.items():
        for i in range(count):
            split = ("val" if i == 0 else "train") if with_splits else ""
            path = f"{split + '/' if split else ''}{label}/img_{i}.png"
            write_image(root / path, seed=i)
            expected[path] = (split, label.lower())
    write_image(root / "loose_image.jpg", seed=3)  # not in a class folder
    return expected
