"""Stage 1: face detection, alignment, background removal and 478 landmarks (paper sections 3.1-3.3)."""

from ganon_utils.preprocess.alignment import AlignedFace, align_face
from ganon_utils.preprocess.detection import FaceDetection, build_detector
from ganon_utils.preprocess.figures import plot_manifest_summary, plot_preprocessing_steps
from ganon_utils.preprocess.inputs import dataset_config, input_problems, parse_dataset_inputs, tasks_for
from ganon_utils.preprocess.landmarks import NUM_LANDMARKS, LandmarkExtractor, render_landmarks
from ganon_utils.preprocess.pipeline import (
    ImageTask,
    PreprocessConfig,
    PreprocessResult,
    detect_and_process,
    process_image,
    read_stage_outputs,
    run_preprocess,
    tasks_from_folder,
    tasks_from_manifest,
)
from ganon_utils.preprocess.segmentation import build_segmenter, remove_background

__all__ = [
    "AlignedFace",
    "FaceDetection",
    "ImageTask",
    "LandmarkExtractor",
    "NUM_LANDMARKS",
    "PreprocessConfig",
    "PreprocessResult",
    "align_face",
    "build_detector",
    "build_segmenter",
    "dataset_config",
    "detect_and_process",
    "input_problems",
    "parse_dataset_inputs",
    "plot_manifest_summary",
    "plot_preprocessing_steps",
    "process_image",
    "read_stage_outputs",
    "remove_background",
    "render_landmarks",
    "run_preprocess",
    "tasks_for",
    "tasks_from_folder",
    "tasks_from_manifest",
]
