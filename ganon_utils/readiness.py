"""Before a run starts: everything the selected notebooks need that is not there, in one list.

A paper-profile run takes days; it must not stop on day two because a dataset or weight file is missing.
Each notebook that reads external inputs has a check here; :func:`run_problems` collects them all so the
runner can print one list (each line names the path and what belongs there) and start nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
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


def stage01_outputs(params: Parameters, root: Path) -> set[Path]:
    """Notebook 01 makes a stage-01 folder per dataset under ``output_root``."""
    try:
        from ganon_utils.preprocess.inputs import parse_dataset_inputs

        inputs = parse_dataset_inputs(params.get("datasets") or {}, params.get("only_datasets"))
    except ValueError:
        return set()
    return {(root / params.get("output_root", "data/processed") / d.name).resolve() for d in inputs}


def generator_outputs(params: Parameters, root: Path) -> set[Path]:
    """Notebook 02 makes ``output_dir/checkpoints/last.pt``."""
    return {(root / params["output_dir"] / "checkpoints" / "last.pt").resolve()} if params.get("output_dir") else set()


def stage03_outputs(params: Parameters, root: Path) -> set[Path]:
    """Notebook 03 makes a manifest per dataset and method under ``output_root``."""
    methods = list(params.get("methods") or []) + list(params.get("external_methods") or {})
    output_root = root / params.get("output_root", "data/anonymized")
    return {(output_root / d / m / "manifest.csv").resolve() for d in params.get("datasets") or [] for m in methods}


def expression_classifier_outputs(params: Parameters, root: Path) -> set[Path]:
    """Notebook 05 makes the ``original`` classifier per dataset, which notebook 06 reads."""
    if "original" not in (params.get("versions") or []):
        return set()
    models_root = root / params.get("models_root", "data/models/expression")
    return {(models_root / d / "original" / "best.pt").resolve() for d in params.get("datasets") or []}


def nothing_made(params: Parameters, root: Path) -> set[Path]:
    """A notebook whose outputs no later notebook of the run reads."""
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
    for name, folder in (params.get("external_methods") or {}).items():
        for dataset in params.get("datasets") or [""]:
            problems += path_problem(f"{stem} external method {name}", str(folder).format(dataset=dataset), root,
                                     produced, "a folder of <face_id>.png made by that method")  # fmt: skip
    return problems


def anonymize_input_problems(stem: str, params: Parameters, root: Path, produced: set[Path]) -> list[str]:
    """Inputs of notebook 03: those of :func:`stage_input_problems` and, for GANonymization, the generator checkpoint."""
    problems = stage_input_problems(stem, params, root, produced)
    if "ganonymization" in (params.get("methods") or []):
        from ganon_utils.anonymize.synthesis import missing_checkpoint_message

        checkpoint = params.get("checkpoint")
        path = (root / str(checkpoint)).resolve() if checkpoint else None
        if path is None or not (path.is_file() or path in produced):
            problems.append(f"{stem}: {missing_checkpoint_message(checkpoint)}")
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
    if params.get("classifier") == "convnext":
        checkpoints = [str(params.get("classifier_checkpoint") or "").format(dataset=d) for d in params.get("datasets") or [""]]
        for checkpoint in checkpoints:
            problems += path_problem(f"{stem} classifier checkpoint", checkpoint or "(classifier_checkpoint not set)", root,
                                     produced, "a ConvNeXt-base expression classifier trained on the dataset's "
                                     "original train split")  # fmt: skip
    return problems


def classifier_training_input_problems(stem: str, params: Parameters, root: Path, produced: set[Path]) -> list[str]:
    """Inputs of notebooks 05 and 07: an evaluation's (:func:`evaluation_input_problems`), the stage-03 manifest of
    every version a classifier is trained on, and the pretrained backbone's weights."""
    from ganon_utils.evaluation.classifiers import ARCHITECTURE_WEIGHTS

    problems = evaluation_input_problems(stem, params, root, produced)
    trained = params.get("versions") or params.get("train_versions") or []
    versions = [v for v in trained if v != "original" and v not in (params.get("methods") or [])]
    for folder in stage03_folders(params):
        for method in versions:
            problems += path_problem(f"{stem} version {method}", str(Path(folder) / method / "manifest.csv"), root,
                                     produced, "run notebook 03 with that method (or its external folder) first")  # fmt: skip
    if params.get("pretrained") and params.get("architecture") in ARCHITECTURE_WEIGHTS:
        problems += weight_problem(ARCHITECTURE_WEIGHTS[params["architecture"]])
    return problems


def preprocess_input_problems(stem: str, params: Parameters, root: Path, produced: set[Path]) -> list[str]:
    """Inputs of notebook 01 (:func:`preprocess_problems`)."""
    return preprocess_problems(params, root, produced)


ProblemCheck = Callable[[str, Parameters, Path, set[Path]], list[str]]
OutputList = Callable[[Parameters, Path], set[Path]]


@dataclass(frozen=True)
class NotebookContract:
    """What a notebook needs before the run starts and what it makes that later notebooks of the run read."""

    needs: ProblemCheck
    makes: OutputList = nothing_made


NOTEBOOK_CONTRACTS: dict[str, NotebookContract] = {
    "01_preprocess": NotebookContract(preprocess_input_problems, stage01_outputs),
    "02_train_pix2pix": NotebookContract(stage_input_problems, generator_outputs),
    "03_anonymize": NotebookContract(anonymize_input_problems, stage03_outputs),
    "04_eval_anonymity": NotebookContract(evaluation_input_problems),
    "05_eval_emotion_training": NotebookContract(classifier_training_input_problems, expression_classifier_outputs),
    "06_eval_emotion_inference": NotebookContract(evaluation_input_problems),
    "07_celeba_traits": NotebookContract(classifier_training_input_problems),
}
"""Per notebook (file stem) its contract; a notebook not listed is checked for the stage-01 folders and external
folders its parameters name (:func:`stage_input_problems`)."""
DEFAULT_CONTRACT = NotebookContract(stage_input_problems)


def run_problems(plan: Sequence[tuple[Path, Parameters]], root: Path, prepared: Iterable[Path] = ()) -> list[str]:
    """All problems of the planned notebooks (notebook path, its parameters), in run order, without duplicates.

    A path made by an earlier notebook of the same run (stage-01 folders, notebook 02's checkpoint), or by
    the profile's set-up before the first notebook (``prepared``, e.g. the demo data), counts as present.
    """
    problems: list[str] = []
    produced: set[Path] = {Path(path).resolve() for path in prepared}
    for notebook, params in plan:
        contract = NOTEBOOK_CONTRACTS.get(notebook.stem, DEFAULT_CONTRACT)
        found = contract.needs(notebook.stem, params, root, produced)
        problems += [problem for problem in found if problem not in problems]
        produced |= contract.makes(params, root)
    return problems
