"""Evaluation metrics in numpy: AUROC, Dice, ECE, recall@k, label-efficiency subsets, and their plots."""

from fastmed.train.metrics.auroc import auroc, auroc_macro
from fastmed.train.metrics.calibration import expected_calibration_error, reliability_curve
from fastmed.train.metrics.dice import dice_per_class
from fastmed.train.metrics.label_efficiency import (
    label_subsets,
    save_label_efficiency_plot,
    stratified_label_subsets,
)
from fastmed.train.metrics.reliability_plot import save_reliability_diagram
from fastmed.train.metrics.retrieval import recall_at_k, report_retrieval, retrieval_recalls

__all__ = [
    "auroc",
    "auroc_macro",
    "dice_per_class",
    "expected_calibration_error",
    "label_subsets",
    "recall_at_k",
    "reliability_curve",
    "report_retrieval",
    "retrieval_recalls",
    "save_label_efficiency_plot",
    "save_reliability_diagram",
    "stratified_label_subsets",
]
