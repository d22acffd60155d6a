"""Anonymisation (paper sections 3.4 and 4.1): GANonymization, the paper's baselines, external methods.

Every method turns the aligned stage-01 faces into a folder of anonymised faces with the same face ids
(``OUTPUT/<method>/<split>/<face_id>.png``, :mod:`.pipeline`), which the evaluations compare with the originals;
for one's own photos, :mod:`.photos` writes the whole photos with their faces replaced.
"""

from __future__ import annotations

from ganon_utils.anonymize.external import EXTERNAL_METHODS, register_external
from ganon_utils.anonymize.figures import example_face_ids, method_grid_images, plot_method_grid, status_counts
from ganon_utils.anonymize.methods import PAPER_BASELINES, builtin_method, gaussian_blur, pixelate
from ganon_utils.anonymize.paste_back import alignment_from_record, feathered_mask, head_mask, paste_face
from ganon_utils.anonymize.photos import PhotoAnonymization, anonymize_photos, paste_back_photos
from ganon_utils.anonymize.pipeline import anonymize_preprocessed, method_kind
from ganon_utils.anonymize.synthesis import (
    AUTO_COMPILE_MIN_FACES,
    GANONYMIZATION,
    CheckpointInfo,
    FaceSynthesizer,
    compile_description,
    describe_checkpoint,
    require_checkpoint,
)

__all__ = [
    "AUTO_COMPILE_MIN_FACES",
    "CheckpointInfo",
    "EXTERNAL_METHODS",
    "FaceSynthesizer",
    "GANONYMIZATION",
    "PAPER_BASELINES",
    "PhotoAnonymization",
    "alignment_from_record",
    "anonymize_photos",
    "anonymize_preprocessed",
    "builtin_method",
    "compile_description",
    "describe_checkpoint",
    "example_face_ids",
    "feathered_mask",
    "gaussian_blur",
    "head_mask",
    "method_grid_images",
    "method_kind",
    "paste_back_photos",
    "paste_face",
    "pixelate",
    "plot_method_grid",
    "register_external",
    "require_checkpoint",
    "status_counts",
]
