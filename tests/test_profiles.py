"""Profiles: lookup by name or path, shape checks, parameter merging, and the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganon_utils.profiles import ProfileError, available_profiles, load_profile, notebook_parameters

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def profiles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "small.yaml").write_text(
        "name: small\n"
        "description: two notebooks\n"
        "setup: {demo_data: true}\n"
        "common: {seed: 1, image_size: 256}\n"
        "notebooks:\n"
        "  01_preprocess: {image_size: 512, detector: blazeface}\n"
        "  02_train: {}\n"
    )
    (folder / "other.yml").write_text("common: {seed: 2}\n")
    (folder / "notes.txt").write_text("not a profile")
    return folder


def test_name_resolves_in_profiles_dir(profiles_dir: Path) -> None:
    profile = load_profile("small", profiles_dir)
    assert profile.name == "small" and profile.path == (profiles_dir / "small.yaml").resolve()
    assert profile.setup == {"demo_data": True} and profile.description == "two notebooks"
    assert load_profile("other", profiles_dir).name == "other"  # no name key: the file stem
    assert available_profiles(profiles_dir) == ["other", "small"]


def test_path_resolves_to_that_file(profiles_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "mine.yaml"
    copy.parent.mkdir()
    copy.write_text("notebooks: {01_preprocess: {n_workers: 8}}\n")
    profile = load_profile(str(copy), profiles_dir)
    assert profile.name == "mine" and notebook_parameters(profile, "01_preprocess") == {"n_workers": 8}
    with pytest.raises(ProfileError, match="missing.yaml does not exist"):
        load_profile(str(tmp_path / "missing.yaml"), profiles_dir)


def test_unknown_name_lists_available_profiles(profiles_dir: Path) -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'smal'.*other, small"):
        load_profile("smal", profiles_dir)


def test_section_overrides_common(profiles_dir: Path) -> None:
    profile = load_profile("small", profiles_dir)
    assert notebook_parameters(profile, "01_preprocess") == {"seed": 1, "image_size": 512, "detector": "blazeface"}
    assert notebook_parameters(profile, "02_train") == {"seed": 1, "image_size": 256}
    assert notebook_parameters(profile, "07_unknown") == {"seed": 1, "image_size": 256}
    returned = notebook_parameters(profile, "01_preprocess")
    returned["seed"] = 99  # a returned dict is a copy: the profile stays as loaded
    assert notebook_parameters(profile, "01_preprocess")["seed"] == 1
    with pytest.raises(TypeError):
        profile.data["common"]["seed"] = 5  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("common: [1, 2]\n", "common must be a mapping"),
        ("notebooks: {01_preprocess: 3}\n", "notebooks.01_preprocess must be a mapping"),
        ("comon: {seed: 1}\n", "unknown top-level key.*comon"),
        ("setup: {demo_dta: true}\n", "unknown setup key.*demo_dta"),
        ("- a\n- b\n", "the profile must be a mapping"),
        ("common: {seed: [1\n", "not valid YAML"),
    ],
)
def test_malformed_profiles_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


@pytest.mark.parametrize("name", ["demo", "paper"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name and profile.path == REPO_ROOT / "profiles" / f"{name}.yaml"
    params = notebook_parameters(profile, "01_preprocess")
    assert {"datasets", "output_root", "detector", "segmenter", "image_size", "n_workers", "scheduler_address"} <= set(params)
    assert profile.setup["demo_data"] is (name == "demo")


def test_demo_profile_uses_offline_backends_and_paper_the_papers() -> None:
    demo = notebook_parameters(load_profile("demo"), "01_preprocess")
    paper = notebook_parameters(load_profile("paper"), "01_preprocess")
    assert (demo["detector"], demo["segmenter"]) == ("yunet+centerface", "selfie")
    assert set(demo["datasets"]) == {"demo", "demo_training"}  # evaluation and training people (issue 11)
    assert demo["datasets"]["demo"]["options"]["csv"] == "evaluation.csv"
    assert demo["datasets"]["demo_training"]["options"]["csv"] == "training.csv"
    assert demo["datasets"]["demo_training"]["settings"] == {"detector": "yunet", "image_size": 256}
    later = {stem: notebook_parameters(load_profile("demo"), stem) for stem in ("02_train_pix2pix", "03_anonymize")}
    assert later["02_train_pix2pix"]["preprocess_dir"] == "data/processed/demo_training"
    assert later["03_anonymize"]["datasets"] == ["demo"]  # the generator never anonymises its training people
    assert set(paper["datasets"]) == {"celeba", "wider_face", "affectnet", "ckplus", "faces"}
    assert (paper["detector"], paper["segmenter"], paper["n_workers"]) == ("retinaface", "head_unet_bgr", None)


def test_paper_profile_follows_the_authors_code() -> None:
    """PROTOCOL.md's differences between the text and the authors' code (issue 10, items 2-8): the paper profile
    takes the code's side on each, and every setting is one the notebooks and the library accept."""
    from ganon_utils.datasets.splits import SPLIT_RULES
    from ganon_utils.evaluation.classifier_training import ClassifierConfig
    from ganon_utils.preprocess import PreprocessConfig

    paper = load_profile("paper")
    stage01 = notebook_parameters(paper, "01_preprocess")
    PreprocessConfig(alignment=stage01["alignment"])  # a valid value
    assert (stage01["alignment"], stage01["segmenter"]) == ("crop_then_rotate", "head_unet_bgr")  # items 2, 3
    assert stage01["datasets"]["ckplus"]["options"] == {"val_fraction": 0.2, "seed": 42, "split": "pandas_sample"}  # 8
    assert "pandas_sample" in SPLIT_RULES
    assert "test" in stage01["datasets"]["celeba"]["options"]["splits"]  # item 7: pix2pix trains on train + test
    pix2pix = notebook_parameters(paper, "02_train_pix2pix")
    assert (pix2pix["train_split"], pix2pix["faces_without_landmarks"]) == ("train+test", True)
    table1 = notebook_parameters(paper, "04_eval_anonymity")
    assert (table1["splits"], table1["faces_averaged"], table1["recognizer"]) == (["val"], "common", "vgg-face")  # 4
    table3 = notebook_parameters(paper, "06_eval_emotion_inference")  # item 5
    assert [table3[k] for k in ("normality_test_on", "effect_size_n", "bonferroni_family", "stars_from")] == [
        "concatenated", "all", "comparison", "uncorrected",
    ]  # fmt: skip
    for stem in ("05_eval_emotion_training", "07_celeba_traits"):  # item 6
        classifier = notebook_parameters(paper, stem)
        assert (classifier["batch_size"], classifier["precision"], classifier["epochs"]) == (128, "fp32", 100)
        assert classifier["early_stopping_patience"] == 5
    assert notebook_parameters(paper, "07_celeba_traits")["attribute_weights"] is True
    assert ClassifierConfig().attribute_weights is False  # the library keeps its own default


@pytest.mark.parametrize("name", ["demo", "paper"])
def test_shipped_profiles_match_the_notebooks_parameters(name: str) -> None:
    """Every key a shipped profile passes is declared in the notebook's parameters cell."""
    from ganon_utils.notebooks import list_notebooks, plan_run

    notebooks = list_notebooks(REPO_ROOT / "notebooks")
    plan = plan_run(load_profile(name), notebooks, REPO_ROOT / "results", REPO_ROOT)  # raises on a mismatch
    assert [nb for nb, _ in plan] == notebooks


def test_name_list_reads_the_forms_papermill_and_profiles_give() -> None:
    from ganon_utils.profiles import name_list

    assert name_list(["pixel8", "blur9"], "methods") == ["pixel8", "blur9"]
    assert name_list("pixel8,blur9", "methods") == ["pixel8", "blur9"]  # papermill -p methods pixel8,blur9
    assert name_list("pixel8 blur9", "methods") == ["pixel8", "blur9"]
    assert name_list("[pixel8, blur9]", "methods") == ["pixel8", "blur9"]
    assert name_list("ganonymization", "methods") == ["ganonymization"]  # not ['g', 'a', 'n', ...]
    assert name_list(None, "splits", allow_none=True) is None
    for bad in (None, 3, ["pixel8", 4], "[pixel8", ""):
        with pytest.raises(ValueError, match="parameter methods"):
            name_list(bad, "methods")


def test_every_list_parameter_of_a_notebook_goes_through_name_list() -> None:
    """A list parameter given to papermill as a string must not be iterated letter by letter."""
    import ast

    import nbformat

    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        lists = []
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
                lists += [t.id for t in node.targets if isinstance(t, ast.Name)]
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for name in lists:
            assert f'name_list({name}, "{name}"' in code, f"{path.name}: {name}"


def test_every_parameters_cell_parses_in_papermill_without_a_warning(caplog) -> None:
    """papermill reads each line of a parameters cell (for --help-notebook and type hints) and logs 'Unable to parse'
    onto the terminal for a line it cannot read (an '=' inside the comment does it): every parameter must parse."""
    import ast
    import logging

    import nbformat
    from papermill.translators import PythonTranslator

    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        with caplog.at_level(logging.WARNING, logger="papermill"):
            caplog.clear()
            parsed = [p.name for p in PythonTranslator.inspect(cell)]
        assert not [r.getMessage() for r in caplog.records], path.name
        assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]
        assert parsed == assigned, path.name
