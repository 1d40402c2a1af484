"""Augmentation ops as specs, fused into one resampling pass per sample.

Every op is a frozen dataclass registered by name (:func:`registered_ops`); a
:class:`Compose` of them draws params from the keyed RNG, fuses them into a
:class:`~fastmed.transforms.plan.SamplePlan` and runs it on a backend.
"""

from __future__ import annotations

from fastmed.transforms.affine import RandomAffine
from fastmed.transforms.base import (
    Context,
    IntensityOp,
    Op,
    SpatialOp,
    op_from_dict,
    register,
    registered_ops,
)
from fastmed.transforms.bias_field import RandomBiasField
from fastmed.transforms.blur import RandomGaussianBlur
from fastmed.transforms.compose import Compose
from fastmed.transforms.contrast import RandomBrightness, RandomContrast
from fastmed.transforms.crop import CenterCrop, RandomCrop
from fastmed.transforms.custom import PatchFunction, PatchOp, VoxelFunction, VoxelOp, patch_op, voxel_op
from fastmed.transforms.elastic import RandomElastic
from fastmed.transforms.flip import RandomFlip
from fastmed.transforms.gamma import RandomGamma
from fastmed.transforms.histogram_shift import RandomHistogramShift
from fastmed.transforms.letterbox import Letterbox
from fastmed.transforms.lowres import RandomLowRes
from fastmed.transforms.noise import RandomGaussianNoise
from fastmed.transforms.normalize import Normalize
from fastmed.transforms.resample import Resample
from fastmed.transforms.rot90 import RandomRot90
from fastmed.transforms.scale import ScaleIntensity
from fastmed.transforms.window import Clip, Window

__all__ = [
    "CenterCrop",
    "Clip",
    "Compose",
    "Context",
    "IntensityOp",
    "Letterbox",
    "Normalize",
    "Op",
    "PatchFunction",
    "PatchOp",
    "RandomAffine",
    "RandomBiasField",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomElastic",
    "RandomFlip",
    "RandomGamma",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomHistogramShift",
    "RandomLowRes",
    "RandomRot90",
    "Resample",
    "ScaleIntensity",
    "SpatialOp",
    "VoxelFunction",
    "VoxelOp",
    "Window",
    "op_from_dict",
    "patch_op",
    "register",
    "registered_ops",
    "voxel_op",
]
