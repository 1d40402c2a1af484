"""The run report: Markdown + HTML with PNG plots (peers' throughput, data wait, losses, montage, ROC).

>>> from fastmed.train.report import ReportInputs, RunSummary, write_report
>>> run = RunSummary("mae", 50.0, 0.02, "model", (1.0, 0.5))
>>> files = write_report(ReportInputs(runs=[run]), "out")  # doctest: +SKIP

numpy and matplotlib only: importing it does not import torch.
"""

from fastmed.train.report.document import ReportFiles, ReportInputs, write_report
from fastmed.train.report.montage import augmentation_montage, centre_crop
from fastmed.train.report.peers import PeerTable, Rate, load_peer_table
from fastmed.train.report.roc import roc_curve
from fastmed.train.report.runs import LabelCurve, RunSummary

__all__ = [
    "LabelCurve",
    "PeerTable",
    "Rate",
    "ReportFiles",
    "ReportInputs",
    "RunSummary",
    "augmentation_montage",
    "centre_crop",
    "load_peer_table",
    "roc_curve",
    "write_report",
]
