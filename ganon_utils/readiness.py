"""Before a run starts: everything the selected notebooks need that is not there, in one list.

A paper-profile run takes days; it must not stop on day two because a dataset or weight file is missing.
Each notebook that reads external inputs has a check here; :func:`run_problems` collects them all so the
runner can print one list (each line names the path and what belongs there) and start nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganon_utils.weights import missing_weight_message, weight_path

Parameters = Mapping[str, Any]


def weight_problem(key: str) -> list[str]:
    """The missing-file message for weight ``key``, or nothing when the file is present."""
    path = weight_path(key)
    return [] if path.is_file() and path.stat().st_size > 0 else [missing_weight_message(key)]


def preprocess_problems(params: Parameters, root: Path) -> list[str]:
    """Stage 01: every dataset root/layout it reads and the weight files of its backends."""
    from ganon_utils.preprocess.detection import DETECTOR_WEIGHTS
    from ganon_utils.preprocess.inputs import DatasetInput, input_problems, parse_dataset_inputs
    from ganon_utils.preprocess.segmentation import SEGMENTER_WEIGHTS

    problems = []
    try:
        inputs = parse_dataset_inputs(params.get("datasets") or {}, params.get("only_datasets"))
    except ValueError as error:
        return [f"01_preprocess: {error}"]
    for dataset in inputs:
        located = DatasetInput(dataset.name, root / dataset.root, dataset.adapter, dataset.options)
        problems += input_problems(located)
    for table, backend in ((DETECTOR_WEIGHTS, params.get("detector")), (SEGMENTER_WEIGHTS, params.get("segmenter"))):
        if backend in table:
            problems += weight_problem(table[backend])
    return problems


CHECKS: dict[str, Callable[[Parameters, Path], list[str]]] = {
    "01_preprocess": preprocess_problems,
}


def run_problems(plan: Sequence[tuple[Path, Parameters]], root: Path) -> list[str]:
    """All problems of the planned notebooks (notebook path, its parameters), in run order, without duplicates."""
    problems: list[str] = []
    for notebook, params in plan:
        check = CHECKS.get(notebook.stem)
        for problem in check(params, root) if check else []:
            if problem not in problems:
                problems.append(problem)
    return problems
