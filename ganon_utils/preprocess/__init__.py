"""Stage 1: face detection, alignment, background removal and 478 landmarks (paper sections 3.1-3.3)."""

from ganon_utils.preprocess.alignment import AlignedFace, align_face
from ganon_utils.preprocess.detection import FaceDetection, build_detector
from ganon_utils.preprocess.landmarks import NUM_LANDMARKS, LandmarkExtractor, render_landmarks
from ganon_utils.preprocess.pipeline import (
    ImageTask,
    PreprocessConfig,
    PreprocessResult,
    process_image,
    run_preprocess,
    tasks_from_folder,
    tasks_from_manifest,
)
from ganon_utils.preprocess.segmentation import build_segmenter, remove_background

__all__ = [
    "AlignedFace", "FaceDetection", "ImageTask", "LandmarkExtractor", "NUM_LANDMARKS",
    "PreprocessConfig", "PreprocessResult", "align_face", "build_detector", "build_segmenter",
    "process_image", "remove_background", "render_landmarks", "run_preprocess",
    "tasks_from_folder", "tasks_from_manifest",
]  # fmt: skip
