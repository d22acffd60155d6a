"""Figures of the preprocessing stage: the Fig.-2-like step grid and the manifest summary."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ganon_utils.preprocess.detection import FaceDetection
from ganon_utils.preprocess.landmarks import render_landmarks
from ganon_utils.preprocess.pipeline import FaceSteps

STEP_TITLES = ("original (detected face)", "aligned crop", "background removed", "landmark image")


def draw_detection(rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
    """A copy of ``rgb`` with the face box and both eye centres drawn on it."""
    canvas = rgb.copy()
    thickness = max(2, round(max(rgb.shape[:2]) / 300))
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), thickness)
    for eye in (face.right_eye, face.left_eye):
        cv2.circle(canvas, (int(round(eye[0])), int(round(eye[1]))), thickness * 2, (255, 0, 0), -1)
    return canvas


def landmarks_for_display(landmarks: np.ndarray | None, size: int) -> np.ndarray:
    """The landmark image the generator sees (the authors' MediaPipe drawing: a 5-pixel plus per point)."""
    return render_landmarks(landmarks, size)


def plot_preprocessing_steps(examples: Sequence[tuple[np.ndarray, FaceDetection, FaceSteps]]) -> Figure:
    """One row per face: original with its detection, aligned crop, background removed, landmarks."""
    figure = Figure(figsize=(10, 2.6 * len(examples)), layout="constrained")
    axes = figure.subplots(len(examples), 4, squeeze=False)
    for row, (rgb, face, steps) in zip(axes, examples):
        size = steps.segmented.shape[0]
        panels = (draw_detection(rgb, face), steps.aligned.image, steps.segmented, landmarks_for_display(steps.landmarks, size))
        for ax, panel, title in zip(row, panels, STEP_TITLES):
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
        count = 0 if steps.landmarks is None else len(steps.landmarks)
        row[3].set_xlabel(f"{count} landmarks (MediaPipe's drawing, as the authors')", fontsize=8)
    return figure


def plot_manifest_summary(manifest: pd.DataFrame) -> Figure:
    """Bar charts: images per status, and images per number of detected faces."""
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    by_status, by_faces = figure.subplots(1, 2)
    counts = manifest["status"].value_counts().sort_index()
    by_status.bar(counts.index.astype(str), counts.to_numpy(), color="tab:blue")
    by_status.set_title("images per status")
    by_status.set_ylabel("images")
    by_status.tick_params(axis="x", rotation=30)
    faces = manifest.loc[manifest["status"] == "ok", "n_faces"].value_counts().sort_index()
    by_faces.bar(faces.index.astype(str), faces.to_numpy(), color="tab:green")
    by_faces.set_title("faces per image (images with status ok)")
    by_faces.set_xlabel("faces detected")
    by_faces.set_ylabel("images")
    return figure
