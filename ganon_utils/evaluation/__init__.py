"""Evaluations of the anonymised faces (paper section 4).

- :mod:`~ganon_utils.evaluation.identity`: face-recognition embeddings and the cosine distance.
- :mod:`~ganon_utils.evaluation.anonymity`: identity distance original vs anonymised (Table 1).
- :mod:`~ganon_utils.evaluation.figures`: their figures.
"""

from __future__ import annotations

from ganon_utils.evaluation.anonymity import (
    FACES_AVERAGED,
    ORIGINAL,
    PAPER_TABLE1,
    REIDENTIFICATION_THRESHOLD,
    alignment_note,
    identity_distances,
    identity_evaluation,
    read_method_manifest,
    summarize_identity,
    table1_caption,
)
from ganon_utils.evaluation.classifier_training import ClassifierConfig, train_classifier
from ganon_utils.evaluation.classifiers import ConvNextClassifier, FerClassifier, build_classifier
from ganon_utils.evaluation.degenerate import (
    classifiers_warnings,
    degenerate_note,
    inference_warnings,
    multilabel_classifiers_warnings,
    prediction_spread,
    removal_warnings,
)
from ganon_utils.evaluation.expression import (
    compare_methods,
    compare_methods_vs_paper,
    comparison_summary,
    mean_differences,
    mean_differences_vs_paper,
    probability_differences,
)
from ganon_utils.evaluation.figures import (
    distance_captions,
    method_title,
    plot_attribute_confusions,
    plot_confusion_matrices,
    plot_expression_differences,
    plot_identity_distances,
    plot_reidentification_roc,
    plot_removal_rates,
    plot_training_curves,
)
from ganon_utils.evaluation.held_out import (
    arg_max_labels,
    build_detectors,
    held_out_checks,
    held_out_headline,
    training_overlap,
)
from ganon_utils.evaluation.identity import RECOGNIZERS, build_embedder, cosine_distance, recognizer_note
from ganon_utils.evaluation.probabilities import class_probabilities, classify_files
from ganon_utils.evaluation.statistics import Table3Options
from ganon_utils.evaluation.training_scenario import (
    accuracy_summary,
    classification_table,
    classification_vs_paper,
    confusion_table,
    dataset_labels,
    ensure_train_val,
    model_labels,
    version_faces,
)
from ganon_utils.evaluation.traits import (
    AgeGenderTraits,
    attribute_labels,
    attribute_scores_vs_paper,
    model_attribute_labels,
    multilabel_confusion,
    multilabel_report,
    removal_rates,
)

__all__ = [
    "AgeGenderTraits",
    "ClassifierConfig",
    "ConvNextClassifier",
    "FACES_AVERAGED",
    "FerClassifier",
    "ORIGINAL",
    "PAPER_TABLE1",
    "RECOGNIZERS",
    "REIDENTIFICATION_THRESHOLD",
    "Table3Options",
    "accuracy_summary",
    "alignment_note",
    "arg_max_labels",
    "attribute_labels",
    "attribute_scores_vs_paper",
    "build_classifier",
    "build_detectors",
    "build_embedder",
    "class_probabilities",
    "classification_table",
    "classification_vs_paper",
    "classifiers_warnings",
    "classify_files",
    "compare_methods",
    "compare_methods_vs_paper",
    "comparison_summary",
    "confusion_table",
    "cosine_distance",
    "dataset_labels",
    "degenerate_note",
    "distance_captions",
    "ensure_train_val",
    "held_out_checks",
    "held_out_headline",
    "identity_distances",
    "identity_evaluation",
    "inference_warnings",
    "mean_differences",
    "mean_differences_vs_paper",
    "method_title",
    "model_attribute_labels",
    "model_labels",
    "multilabel_classifiers_warnings",
    "multilabel_confusion",
    "multilabel_report",
    "plot_attribute_confusions",
    "plot_confusion_matrices",
    "plot_expression_differences",
    "plot_identity_distances",
    "plot_reidentification_roc",
    "plot_removal_rates",
    "plot_training_curves",
    "prediction_spread",
    "probability_differences",
    "read_method_manifest",
    "recognizer_note",
    "removal_rates",
    "removal_warnings",
    "summarize_identity",
    "table1_caption",
    "train_classifier",
    "training_overlap",
    "version_faces",
]
