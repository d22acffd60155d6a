"""Before a run starts: everything the selected notebooks need that is not there, in one list.

A paper-profile run takes days; it must not stop on day two because a dataset or weight file is missing.
Each notebook that reads external inputs has a check here; :func:`run_problems` collects them all so the
runner can print one list (each line names the path and what belongs there) and start nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from pathlib import Path
from typing import Any

from ganon_utils.weights import missing_weight_message, weight_path

Parameters = Mapping[str, Any]


def weight_problem(key: str) -> list[str]:
    """The missing-file message for weight ``key``, or nothing when the file is present."""
    path = weight_path(key)
    return [] if path.is_file() and path.stat().st_size > 0 else [missing_weight_message(key)]


def preprocess_problems(params: Parameters, root: Path, produced: AbstractSet[Path] = frozenset()) -> list[str]:
    """Stage 01: every dataset root/layout it reads and the weight files of its backends.

    A dataset whose root the run's set-up makes (``produced``, e.g. the demo data) counts as present."""
    from ganon_utils.preprocess.detection import DETECTOR_WEIGHTS
    from ganon_utils.preprocess.inputs import input_problems, parse_dataset_inputs
    from ganon_utils.preprocess.segmentation import SEGMENTER_WEIGHTS

    problems = []
    try:
        inputs = parse_dataset_inputs(params.get("datasets") or {}, params.get("only_datasets"))
    except ValueError as error:
        return [f"01_preprocess: {error}"]
    for dataset in inputs:
        located = replace(dataset, root=root / dataset.root)
        if not any(located.root.resolve().is_relative_to(made) for made in produced):
            problems += input_problems(located)
    for table, name in ((DETECTOR_WEIGHTS, "detector"), (SEGMENTER_WEIGHTS, "segmenter")):
        backends = [params.get(name)] + [dataset.settings.get(name) for dataset in inputs]
        for backend in dict.fromkeys(backends):
            if backend in table:
                problems += weight_problem(table[backend])
    return problems


def produced_by(stem: str, params: Parameters, root: Path) -> set[Path]:
    """Paths a notebook creates that later notebooks of the same run may read."""
    if stem == "01_preprocess":
        try:
            from ganon_utils.preprocess.inputs import parse_dataset_inputs

            inputs = parse_dataset_inputs(params.get("datasets") or {}, params.get("only_datasets"))
        except ValueError:
            return set()
        return {(root / params.get("output_root", "data/processed") / d.name).resolve() for d in inputs}
    if stem == "02_train_pix2pix" and params.get("output_dir"):
        return {(root / params["output_dir"] / "checkpoints" / "last.pt").resolve()}
    if stem == "05_eval_emotion_training" and "original" in (params.get("versions") or []):
        models_root = root / params.get("models_root", "data/models/expression")
        return {(models_root / d / "original" / "best.pt").resolve() for d in params.get("datasets") or []}
    if stem == "03_anonymize":
        methods = list(params.get("methods") or []) + list(params.get("external_methods") or {})
        output_root = root / params.get("output_root", "data/anonymized")
        return {(output_root / d / m / "manifest.csv").resolve() for d in params.get("datasets") or [] for m in methods}
    return set()


def path_problem(what: str, value: Any, root: Path, produced: set[Path], hint: str) -> list[str]:
    """A problem line when ``value`` names a path that neither exists nor is made earlier in the run."""
    if not value:
        return []
    path = (root / str(value)).resolve()
    return [] if path.exists() or path in produced else [f"{what}: {path} does not exist ({hint})"]


def stage01_folders(params: Parameters) -> list[str]:
    """The stage-01 folders a notebook reads: ``preprocess_dir``, or ``preprocess_root``/each of ``datasets``."""
    if params.get("preprocess_dir"):
        return [str(params["preprocess_dir"])]
    root = params.get("preprocess_root", "data/processed")
    return [str(Path(root) / name) for name in params.get("datasets") or []]


def stage03_folders(params: Parameters) -> list[str]:
    """The stage-03 folders an evaluation reads: ``anonymized_dir``, or ``anonymized_root``/each of ``datasets``."""
    if params.get("anonymized_dir"):
        return [str(params["anonymized_dir"])]
    root = params.get("anonymized_root", "data/anonymized")
    return [str(Path(root) / name) for name in params.get("datasets") or []]


def stage_input_problems(stem: str, params: Parameters, root: Path, produced: set[Path]) -> list[str]:
    """Inputs of notebooks 02 and 03: the stage-01 folders, the generator checkpoint, external folders."""
    problems = []
    for folder in stage01_folders(params):
        problems += path_problem(f"{stem} stage-01 folder", folder, root, produced,
                                 "run notebook 01 for that dataset first")  # fmt: skip
    if stem == "03_anonymize" and "ganonymization" in (params.get("methods") or []):
        from ganon_utils.anonymize.synthesis import missing_checkpoint_message

        checkpoint = params.get("checkpoint")
        path = (root / str(checkpoint)).resolve() if checkpoint else None
        if path is None or not (path.is_file() or path in produced):
            problems.append(f"{stem}: {missing_checkpoint_message(checkpoint)}")
    for name, folder in (params.get("external_methods") or {}).items():
        for dataset in params.get("datasets") or [""]:
            problems += path_problem(f"{stem} external method {name}", str(folder).format(dataset=dataset), root,
                                     produced, "a folder of <face_id>.png made by that method")  # fmt: skip
    return problems


def evaluation_input_problems(stem: str, params: Parameters, root: Path, produced: set[Path]) -> list[str]:
    """Inputs of the evaluation notebooks: the stage-01 folder, each method's stage-03 manifest, recogniser weights."""
    from ganon_utils.evaluation.identity import recognizer_weight_problems

    problems = []
    for folder in stage01_folders(params):
        problems += path_problem(f"{stem} stage-01 folder", folder, root, produced, "run notebook 01 for that dataset first")
    for folder in stage03_folders(params):
        for method in params.get("methods") or []:
            problems += path_problem(f"{stem} method {method}", str(Path(folder) / method / "manifest.csv"), root,
                                     produced, "run notebook 03 with that method (or its external folder) first")  # fmt: skip
    if params.get("recognizer"):
        problems += recognizer_weight_problems(str(params["recognizer"]))
    if stem in ("05_eval_emotion_training", "07_celeba_traits"):
        from ganon_utils.evaluation.classifiers import ARCHITECTURE_WEIGHTS

        trained = params.get("versions") or params.get("train_versions") or []
        versions = [v for v in trained if v != "original" and v not in (params.get("methods") or [])]
        for folder in stage03_folders(params):
            for method in versions:
                problems += path_problem(f"{stem} version {method}", str(Path(folder) / method / "manifest.csv"), root,
                                         produced, "run notebook 03 with that method (or its external folder) first")  # fmt: skip
        if params.get("pretrained") and params.get("architecture") in ARCHITECTURE_WEIGHTS:
            problems += weight_problem(ARCHITECTURE_WEIGHTS[params["architecture"]])
    if params.get("classifier") == "convnext":
        checkpoints = [str(params.get("classifier_checkpoint") or "").format(dataset=d) for d in params.get("datasets") or [""]]
        for checkpoint in checkpoints:
            problems += path_problem(f"{stem} classifier checkpoint", checkpoint or "(classifier_checkpoint not set)", root,
                                     produced, "a ConvNeXt-base expression classifier trained on the dataset's "
                                     "original train split")  # fmt: skip
    return problems


EVALUATION_NOTEBOOKS = ("04_eval_anonymity", "05_eval_emotion_training", "06_eval_emotion_inference", "07_celeba_traits")


def run_problems(plan: Sequence[tuple[Path, Parameters]], root: Path, prepared: Iterable[Path] = ()) -> list[str]:
    """All problems of the planned notebooks (notebook path, its parameters), in run order, without duplicates.

    A path made by an earlier notebook of the same run (stage-01 folders, notebook 02's checkpoint), or by
    the profile's set-up before the first notebook (``prepared``, e.g. the demo data), counts as present.
    """
    problems: list[str] = []
    produced: set[Path] = {Path(path).resolve() for path in prepared}
    for notebook, params in plan:
        stem = notebook.stem
        if stem == "01_preprocess":
            found = preprocess_problems(params, root, produced)
        elif stem in EVALUATION_NOTEBOOKS:
            found = evaluation_input_problems(stem, params, root, produced)
        else:
            found = stage_input_problems(stem, params, root, produced)
        problems += [problem for problem in found if problem not in problems]
        produced |= produced_by(stem, params, root)
    return problems
