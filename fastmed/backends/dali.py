"""The DALI backend: a fused plan becomes a DALI pipeline (CPU, or GPU with ``device="gpu"``).

Graph per array key (``image``, ``label`` ...)::

    external_source (C, D, H, W)  ->  transpose to DHWC (HWC in 2D)
      -> warp_affine(matrix = the plan's fused map, size = the patch)    one resampling
      -> template slots: min/max (clip), v * mul + add, gamma (math.pow), noise.gaussian
      -> transpose back to CDHW  -> cast (float16)

The fused map of every spatial op (crop, flip, rot90, affine, resample) is one
``warp_affine`` per sample. fastmed's map takes output voxel indices ``(z, y, x)`` to
source indices; DALI's ``matrix`` (with the default ``inverse_map=True``) takes output
*coordinates* to source coordinates in ``(x, y, z)`` order with ``[0, 0, 0]`` at the
corner of the first voxel, so the axes are reversed and the translation gets the
half-voxel shift ``t + 0.5 - A @ 0.5`` (:func:`dali_matrix`). Constant padding is
``fill_value`` (blended per tap like fastmed); ``edge`` is DALI's clamping (no fill value).

Intensity ops become DALI arithmetic on per-sample parameters fed with the samples
(see :mod:`fastmed.backends.dali_support` for the template of slots and the support
table). Noise comes from ``fn.noise.gaussian`` with DALI's own generator (seeded by the
pipeline seed): it is not fastmed's keyed Philox stream, so DALI noise matches the
other backends in distribution, not value by value. DALI has no 3D elastic op and no
bfloat16: plans with elastic, bias field, blur, low-res, patch statistics or reflect
padding raise a :class:`fastmed.TransformError` naming them; bfloat16 is produced as
float32 by DALI and converted on the host.

Supported ops (full table: :mod:`fastmed.backends.dali_support`, ``docs/backends.md``)::

    supported      RandomCrop, CenterCrop, RandomFlip, RandomRot90, RandomAffine, Resample, Letterbox,
                   Window, Clip, Normalize (fixed / source stats), ScaleIntensity,
                   RandomGamma, RandomContrast, RandomBrightness
    in distribution RandomGaussianNoise (DALI's generator), dtype="bfloat16" (host rounding)
    unsupported    RandomElastic, RandomBiasField, RandomGaussianBlur, RandomLowRes,
                   Normalize(stats="patch"), pad_mode="reflect"

Two entry points share one graph builder (:mod:`fastmed.backends.dali_graph`):

- ``Compose(..., device="dali")`` / :class:`DaliBackend`: runs given plans (feeding the
  pipeline with ``feed_input``); pipelines are cached per template.
- :func:`dali_pipeline`: a pipeline that pulls samples from a dataset itself, draws
  params with the keyed RNG and works with ``nvidia.dali.plugin.pytorch.DALIGenericIterator``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.backends import register_backend
from fastmed.backends.common import bf16_bits, host_slots
from fastmed.backends.dali_graph import (
    GraphSpec,
    array_spec,
    dali_matrix,
    feed_values,
    graph_for_plans,
    input_names,
    make_pipeline,
)
from fastmed.backends.dali_support import (
    DALI_TEMPLATE,
    ops_unsupported_by_dali,
    plan_unsupported_by_dali,
    unsupported_error,
)
from fastmed.errors import TransformError
from fastmed.transforms.plan import SamplePlan

__all__ = ["DaliBackend", "dali_matrix", "dali_pipeline", "template_for_ops"]


def _to_numpy(t: Any) -> npt.NDArray[Any]:
    if hasattr(t, "as_cpu"):
        t = t.as_cpu()
    return np.array(t)


class DaliBackend:
    """Runs plans through DALI pipelines (one per graph, cached and reused).

    Parameters
    ----------
    device
        ``"cpu"`` (DALI's CPU operators, ``device_id=None``) or ``"gpu"``.
    device_id
        GPU ordinal for ``device="gpu"``.
    num_threads
        DALI worker threads (<= 0: 2).
    seed
        Seed of DALI's own random generators (noise).
    """

    name = "dali"

    def __init__(self, device: str = "cpu", device_id: int = 0, num_threads: int = 0, seed: int = 0):
        if device not in ("cpu", "gpu"):
            raise TransformError(f"DALI backend: device must be 'cpu' or 'gpu', got {device!r}")
        self.device = device
        self.device_id = int(device_id)
        self.num_threads = num_threads if num_threads > 0 else 2
        self.seed = int(seed)
        self._pipes: dict[tuple[GraphSpec, int], Any] = {}

    def pipeline(self, spec: GraphSpec, batch_size: int) -> Any:
        """The cached pipeline for a graph and batch size."""
        k = (spec, batch_size)
        if k not in self._pipes:
            self._pipes[k] = make_pipeline(spec, batch_size, self.device, self.num_threads, self.seed, self.device_id)
        return self._pipes[k]

    def run(
        self,
        plans: Sequence[SamplePlan],
        samples: Sequence[Mapping[str, Any]],
        threads: int = 0,
        out: Mapping[str, Any] | None = None,
    ) -> list[dict[str, npt.NDArray[np.generic]]]:
        """Run one batch through the pipeline of its graph; outputs are numpy arrays.

        ``out`` maps keys to host batch arrays (N, C, *patch) (numpy, torch CPU): DALI hands
        back its own buffers, so each sample is copied once into its slot.
        """
        if not plans:
            return []
        slots = host_slots(plans, samples, out)
        spec = graph_for_plans(plans, samples)
        pipe = self.pipeline(spec, len(plans))
        names = input_names(spec)
        columns: list[list[npt.NDArray[Any]]] = [[] for _ in names]
        for plan, sample in zip(plans, samples, strict=True):
            for col, v in zip(columns, feed_values(spec, plan, sample), strict=True):
                col.append(v)
        try:
            for n, col in zip(names, columns, strict=True):
                pipe.feed_input(n, col)
            outs = pipe.run()
        except RuntimeError as exc:  # a DALI error leaves the pipeline unusable: drop it
            self._pipes.pop((spec, len(plans)), None)
            raise TransformError(f"DALI backend: the pipeline failed: {exc}") from exc
        results: list[dict[str, npt.NDArray[np.generic]]] = [{} for _ in plans]
        for a, tl, ap_dtype in zip(spec.arrays, outs, [ap.out_dtype for ap in plans[0].arrays], strict=True):
            for k in range(len(plans)):
                v = _to_numpy(tl[k])
                if ap_dtype == "bfloat16":
                    v = bf16_bits(v)
                if a.key in slots:
                    slots[a.key][k][...] = v
                    v = slots[a.key][k]
                results[k][a.key] = v
        return results


register_backend("dali", DaliBackend)
register_backend("dali-gpu", lambda: DaliBackend(device="gpu"))


def template_for_ops(ops: Sequence[Any]) -> tuple[int, ...]:
    """The slot template of a pipeline's intensity ops (stable across batches)."""
    bad = ops_unsupported_by_dali(ops)
    if bad:
        raise unsupported_error("dali", bad)
    out: list[int] = []
    for op in ops:
        out.extend(DALI_TEMPLATE.get(type(op).__name__, ()))
    return tuple(out)


def dali_pipeline(
    compose: Any,
    dataset: Sequence[Mapping[str, Any]],
    batch_size: int,
    *,
    seed: int = 0,
    epoch: int = 0,
    device: str = "cpu",
    device_id: int = 0,
    num_threads: int = 2,
) -> tuple[Any, list[str]]:
    """A DALI pipeline that augments ``dataset`` with ``compose``, for ``DALIGenericIterator``.

    Each iteration takes the next ``batch_size`` samples in order (the last batch may be
    smaller); sample ``i`` of DALI epoch ``e`` gets the params of
    ``compose.sample_params(sample, seed, index=i, epoch=epoch + e)``, so the geometry
    and intensities equal the other backends' (noise: DALI's generator).

    Parameters
    ----------
    compose
        A :class:`fastmed.transforms.Compose` whose ops DALI supports.
    dataset
        Map-style samples (dicts with channel-first arrays).
    batch_size
        Samples per batch.
    seed, epoch
        The keyed RNG's seed and first epoch.
    device, device_id, num_threads
        DALI execution.

    Returns
    -------
    The built pipeline and its output names (pass both to ``DALIGenericIterator``).

    Examples
    --------
    >>> from nvidia.dali.plugin.pytorch import DALIGenericIterator  # doctest: +SKIP
    >>> pipe, names = dali_pipeline(aug, dataset, batch_size=4)  # doctest: +SKIP
    >>> for batch in DALIGenericIterator(pipe, names, auto_reset=True): ...  # doctest: +SKIP
    """
    if not len(dataset):
        raise TransformError("dali_pipeline: the dataset is empty")
    if compose.dtype == "bfloat16":
        raise TransformError("dali_pipeline: DALI has no bfloat16; use dtype='float16' and cast in torch")
    template = template_for_ops(compose.ops)
    first = dataset[0]
    d = len(np.shape(first[compose.image_keys[0]])) - 1
    plan0 = compose.compile(first, compose.sample_params(first, seed, 0, epoch))
    arrays = tuple(
        array_spec(ap, template if ap.key in compose.image_keys else (), first[ap.key]) for ap in plan0.arrays
    )
    spec = GraphSpec(ndim=d, arrays=arrays)
    names = input_names(spec)
    n = len(dataset)

    def source(info: Any) -> tuple[list[npt.NDArray[Any]], ...]:
        start = int(info.iteration) * batch_size
        if start >= n:
            raise StopIteration
        cols: list[list[npt.NDArray[Any]]] = [[] for _ in names]
        for i in range(start, min(start + batch_size, n)):
            s = dataset[i]
            plan = compose.compile(s, compose.sample_params(s, seed, i, epoch + int(info.epoch_idx)))
            bad = plan_unsupported_by_dali(plan)
            if bad:
                raise unsupported_error("dali", bad)
            for col, v in zip(cols, feed_values(spec, plan, s), strict=True):
                col.append(v)
        return tuple(cols)

    pipe = make_pipeline(spec, batch_size, device, num_threads, seed, device_id, source=source)
    return pipe, [a.key for a in arrays]
