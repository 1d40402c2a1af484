"""Compose: draw every op's params, fuse them into one plan, run it on a backend.

Spatial ops (in their given order) fuse into one output-voxel to source-coordinate
matrix plus an optional elastic grid; intensity ops (in their given order) fuse into
one per-voxel program, split only where a patch pass (blur, low-res, patch
statistics) must see the whole patch. Intensity ops act on the resampled patch, so
their place relative to spatial ops does not matter (for pointwise linear ops this
is exact; for gamma it is the usual resample-then-transform order). Arrays under
``label_keys`` use the same map with nearest sampling and get no intensity op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fastmed.errors import TransformError
from fastmed.transforms import planner
from fastmed.transforms.base import (
    Context,
    IntensityOp,
    Op,
    SpatialOp,
    op_from_dict,
)
from fastmed.transforms.batch_out import out_mapping, patch_shapes
from fastmed.transforms.collate import collate
from fastmed.transforms.executors import Executor, get_executor
from fastmed.transforms.params import checked_params, to_json
from fastmed.transforms.plan import PAD_MODES, SamplePlan
from fastmed.transforms.sample_access import array_shape, sample_spacing, stack_outputs

_DTYPES = ("float32", "float16", "bfloat16")
_CONFIG_KEYS = {
    "image_keys",
    "label_keys",
    "dtype",
    "pad_mode",
    "pad_value",
    "label_pad_value",
    "device",
    "threads",
    "stats_voxels",
}


def _contributes(op: Op) -> str | None:
    """What a spatial op contributes to the spatial map (None for intensity ops)."""
    return op.contributes if isinstance(op, SpatialOp) else None


class Compose:
    """A pipeline of ops compiled into one fused pass per sample.

    Parameters
    ----------
    ops
        Op specs, applied in order (spatial among spatial, intensity among intensity).
    image_keys
        Keys resampled linearly and given the intensity ops (the first must be present).
    label_keys
        Keys resampled with nearest, padded with ``label_pad_value``, no intensity ops,
        output in their own dtype.
    dtype
        Image output dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"`` (a torch
        bfloat16 tensor; numpy has no bfloat16).
    pad_mode, pad_value
        Padding outside the image (a crop's own padding overrides these).
    label_pad_value
        Padding of labels.
    device
        Backend name (``"cpu"``; ``"cuda"`` and ``"dali"`` when installed).
    threads
        Native threads (<= 0: the pool size).
    stats_voxels
        Subsample size for per-sample statistics (see :mod:`fastmed.transforms.stats`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmed.transforms import Compose, RandomCrop, RandomFlip, Window
    >>> aug = Compose([RandomCrop((32, 32, 32)), RandomFlip(), Window(-1000, 400)])
    >>> out = aug({"image": np.zeros((1, 40, 50, 60), np.int16)}, seed=0, index=3)
    >>> out["image"].shape
    (1, 32, 32, 32)
    """

    # Image and label entries may be LazyVolume handles: only the plan's source footprint is read.
    accepts_lazy: ClassVar[bool] = True

    def __init__(
        self,
        ops: Iterable[Op],
        *,
        image_keys: Sequence[str] = ("image",),
        label_keys: Sequence[str] = ("label",),
        dtype: str = "float32",
        pad_mode: str = "constant",
        pad_value: float = 0.0,
        label_pad_value: float = 0.0,
        device: str = "cpu",
        threads: int = 0,
        stats_voxels: int = 32768,
    ):
        self.ops: tuple[Op, ...] = tuple(ops)
        for op in self.ops:
            if not isinstance(op, SpatialOp | IntensityOp):
                raise TransformError(f"Compose: {op!r} is not a fastmed op")
        fields = [type(op).__name__ for op in self.ops if _contributes(op) == "displacement"]
        if len(fields) > 1:
            raise TransformError(
                f"Compose: at most one displacement-field op (RandomElastic) per pipeline, got {fields}"
            )
        if dtype not in _DTYPES:
            raise TransformError(f"Compose: dtype must be one of {_DTYPES}, got {dtype!r}")
        if pad_mode not in PAD_MODES:
            raise TransformError(f"Compose: pad_mode must be one of {sorted(PAD_MODES)}, got {pad_mode!r}")
        if not image_keys:
            raise TransformError("Compose: image_keys must name at least one key")
        self.image_keys = tuple(image_keys)
        self.label_keys = tuple(label_keys)
        self.dtype = dtype
        self.pad_mode = pad_mode
        self.pad_value = float(pad_value)
        self.label_pad_value = float(label_pad_value)
        self.device = device
        self.threads = int(threads)
        self.stats_voxels = int(stats_voxels)

    def __repr__(self) -> str:
        return f"Compose({list(self.ops)!r}, device={self.device!r})"

    # ---- serialization -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The pipeline as a JSON-friendly dict."""
        return {
            "ops": [op.to_dict() for op in self.ops],
            "image_keys": list(self.image_keys),
            "label_keys": list(self.label_keys),
            "dtype": self.dtype,
            "pad_mode": self.pad_mode,
            "pad_value": self.pad_value,
            "label_pad_value": self.label_pad_value,
            "device": self.device,
            "threads": self.threads,
            "stats_voxels": self.stats_voxels,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Compose:
        """Rebuild a pipeline from :meth:`to_dict` output."""
        if not isinstance(d, Mapping) or not isinstance(d.get("ops"), list | tuple):
            raise TransformError("Compose.from_dict: expected a dict with an 'ops' list")
        unknown = sorted(set(d) - _CONFIG_KEYS - {"ops"})
        if unknown:
            raise TransformError(f"Compose.from_dict: unknown keys {unknown} (known: {sorted(_CONFIG_KEYS)})")
        rest = {k: v for k, v in d.items() if k != "ops"}
        return cls([op_from_dict(o) for o in d["ops"]], **rest)

    # ---- parameters --------------------------------------------------------------

    def _describe(self, sample: Mapping[str, Any]) -> Context:
        key = self.image_keys[0]
        if key not in sample:
            raise TransformError(f"Compose: sample has no {key!r} key (keys: {sorted(sample)})")
        shape = array_shape(sample[key])
        if len(shape) not in (3, 4):
            raise TransformError(
                f"Compose: sample[{key!r}] must be channel-first (C, H, W) or (C, D, H, W), got shape {shape}"
            )
        ndim = len(shape) - 1
        return Context(ndim=ndim, shape=shape[1:], spacing=sample_spacing(sample, ndim, sample[key]), channels=shape[0])

    def sample_params(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Draw every op's params for this (seed, epoch, index); op k uses stream k.

        The result is plain JSON data (dicts, lists, bools, ints, floats): ``json.dumps`` writes it
        and :meth:`replay` of ``json.loads`` of it gives the same output bit for bit.
        """
        out: dict[str, Any] = to_json(self._draw(sample, seed, index, epoch))
        return out

    def _draw(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        """:meth:`sample_params` as drawn (numpy arrays kept; the hot path compiles these)."""
        return planner.draw(self, [sample], seed, [int(index)], epoch)[0][0]

    # ---- compilation -------------------------------------------------------------

    def plan(self, description: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> SamplePlan:
        """The plan of one sample: a pure function of (ops, ``description``, seed, epoch, index).

        ``description`` is a sample whose arrays may be :class:`~fastmed.volume_source.LazyVolume`
        objects (shape, dtype, spacing and per-volume ``stats`` known without reading voxels)
        or in-memory arrays. For lazy arrays the plan carries a :class:`~fastmed.transforms.plan.Window`
        per array (the :meth:`~fastmed.transforms.plan.SamplePlan.source_bbox` box); an op that
        needs intensity statistics the description does not supply reads that window.
        """
        return self.plan_batch([description], seed, [index], epoch)[0]

    def plan_batch(
        self,
        descriptions: Sequence[Mapping[str, Any]],
        seed: int = 0,
        indices: Iterable[int] | None = None,
        epoch: int = 0,
    ) -> list[SamplePlan]:
        """The plans of many samples at once: plan k equals ``plan(descriptions[k], seed, indices[k], epoch)``.

        Each op draws every sample's params in one vectorized call (the same Philox streams
        and numbers as one by one) and the spatial maps are composed as stacks; see
        :mod:`fastmed.transforms.planner`. ``indices`` defaults to ``0 .. n-1``.
        """
        _, plans, _ = self._plan_batch(descriptions, seed, indices, epoch, read=False)
        return plans

    def _plan_batch(
        self, samples: Sequence[Mapping[str, Any]], seed: int, indices: Iterable[int] | None, epoch: int, read: bool
    ) -> tuple[list[dict[str, Any]], list[SamplePlan], list[dict[str, Any]]]:
        """Params, plans and (``read``) the windows read for lazy arrays, of every sample."""
        idx = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        if len(idx) != len(samples):
            raise TransformError(f"batch: {len(samples)} samples but {len(idx)} indices")
        if not samples:
            return [], [], []
        params, walks, ctx0s = self._draw_batch(samples, seed, idx, epoch)
        compiled = planner.compile_batch(self, samples, params, read, walks, ctx0s)
        return params, [c[0] for c in compiled], [c[1] for c in compiled]

    def _draw_batch(
        self, samples: Sequence[Mapping[str, Any]], seed: int, indices: Sequence[int], epoch: int
    ) -> tuple[list[dict[str, Any]], list[planner.Walk] | None, list[Context] | None]:
        """Every sample's params (as :meth:`_draw`), with the spatial walks when the planner drew them.

        A subclass that overrides :meth:`_draw` (one sample) keeps its say: its params are then
        drawn sample by sample and the walks recomputed from them (no vectorized draw).
        """
        if type(self)._draw is not Compose._draw:
            return [self._draw(s, seed, i, epoch) for s, i in zip(samples, indices, strict=True)], None, None
        return planner.draw(self, samples, seed, indices, epoch)

    def compile(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> SamplePlan:
        """Fuse the drawn params into a :class:`SamplePlan` for this sample."""
        return self._compile(sample, params)[0]

    def _compile(
        self, sample: Mapping[str, Any], params: Mapping[str, Any], read: bool = True
    ) -> tuple[SamplePlan, dict[str, Any]]:
        """The plan, and (``read``) the windows of its lazy arrays, each read once (channel-first, by key)."""
        return planner.compile_batch(self, [sample], [params], read)[0]

    # ---- execution ---------------------------------------------------------------

    def _finish(
        self, sample: Mapping[str, Any], arrays: Mapping[str, Any], plan: SamplePlan, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        out = dict(sample)
        for k, v in arrays.items():
            if self.dtype == "bfloat16" and k in self.image_keys:
                import torch  # bfloat16 has no numpy dtype

                if isinstance(v, np.ndarray):
                    v = torch.from_numpy(v)
                elif not isinstance(v, torch.Tensor):  # a CuPy array of bfloat16 bits
                    v = torch.from_dlpack(v)
                v = v.view(torch.bfloat16)
            out[k] = v
        sp = plan.spatial.out_spacing
        out["spacing"] = tuple(sp[1:]) if plan.ndim == 2 else tuple(sp)
        out["params"] = to_json(params)
        return out

    def __call__(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Augment one sample; the result carries ``params`` for :meth:`replay`."""
        params, plans, reads = self._plan_batch([sample], seed, [index], epoch, read=True)
        return self._execute(sample, plans[0], reads[0], params[0])

    def replay(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """Apply previously drawn ``params`` (from an output's ``"params"``): the same output again.

        ``params`` are untrusted (they may come from a file): they are checked against what this
        pipeline draws for their (seed, epoch, index) on this sample (fields, types, shapes, finite
        values, each op's ranges) and refused with a :class:`~fastmed.errors.TransformError`
        naming the op and the field.
        """
        return self._run(sample, checked_params(self, sample, params))

    def _backend(self) -> Executor:
        return get_executor(self.device)

    def _run(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        plan, read = self._compile(sample, params)
        return self._execute(sample, plan, read, params)

    def _execute(
        self, sample: Mapping[str, Any], plan: SamplePlan, read: Mapping[str, Any], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arrays = self._backend().run([plan], [{**sample, **read}], self.threads)[0]
        return self._finish(sample, arrays, plan, params)

    def batch(
        self,
        samples: Sequence[Mapping[str, Any]],
        seed: int = 0,
        indices: Sequence[int] | None = None,
        epoch: int = 0,
        stack: bool = False,
        out: Any = None,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Augment many samples with one native call.

        Parameters
        ----------
        samples
            Sample dicts.
        seed, epoch
            The RNG key.
        indices
            Sample indices (default ``0 .. n-1``); sample k equals ``self(samples[k], seed, indices[k], epoch)``.
        stack
            Return one dict instead of a list of dicts: each image and label key stacked on a
            new first axis (patch shapes must match), every other key present in all samples
            collated as ``torch.utils.data.default_collate`` does (see
            :mod:`fastmed.transforms.collate`: tensors for numbers, lists for strings; numpy
            arrays without torch), and ``params`` a list.
        out
            Preallocated batch output: one array for the first image key, or a mapping
            ``{"image": ..., "label": ...}``; each array (N, C, *patch) in the output dtype
            (``dtype`` for images, a torch tensor for bfloat16; the source dtype for labels).
            numpy, torch CPU (pinned or not) for the CPU backends, CuPy / torch CUDA for
            ``cuda``. Sample k is written straight into ``out[key][k]``, no stacking copy;
            with ``stack`` the result holds these arrays. A wrong shape, dtype or device is a
            :class:`~fastmed.errors.TransformError`.
        """
        outs_map = out_mapping(out, self.image_keys[0])
        params, plans, reads = self._plan_batch(samples, seed, indices, epoch, read=True)
        # Lazy arrays run from the windows read for them.
        sources = [{**s, **r} if r else s for s, r in zip(samples, reads, strict=True)]
        backend = self._backend()
        if stack and not outs_map and getattr(backend, "host_batch_out", False):
            outs_map = self._host_batch(plans, sources)  # stack by writing into one array, not copying after
        if outs_map:
            arrays = backend.run(plans, sources, self.threads, out=outs_map)
        else:  # backends written before out= need not take it
            arrays = backend.run(plans, sources, self.threads)
        outs = [self._finish(s, a, pl, p) for s, a, pl, p in zip(samples, arrays, plans, params, strict=True)]
        for pos, o in enumerate(outs):
            for key, a in outs_map.items():
                o[key] = a[pos]  # the caller's own array type (a torch slot, not its numpy view)
        if not stack:
            return outs
        keys = [k for k in (*self.image_keys, *self.label_keys) if all(k in o for o in outs)]
        stacked: dict[str, Any] = {}
        for name in keys:
            stacked[name] = outs_map[name] if name in outs_map else stack_outputs([o[name] for o in outs])
        rest = [name for name in outs[0] if name not in stacked and name != "params" and all(name in o for o in outs)]
        for name in rest:
            stacked[name] = collate([o[name] for o in outs])
        stacked["params"] = [o["params"] for o in outs]
        return stacked

    def _host_batch(self, plans: Sequence[SamplePlan], samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Empty host batch arrays for the image and label keys (none when patch shapes differ)."""
        try:
            shapes = patch_shapes(plans, samples)
        except TransformError:
            return {}
        arrays: dict[str, Any] = {}
        for key, (shape, dt) in shapes.items():
            if key not in (*self.image_keys, *self.label_keys):
                continue
            if dt == "bfloat16":
                import torch  # numpy has no bfloat16

                arrays[key] = torch.empty((len(plans), *shape), dtype=torch.bfloat16)
            else:
                arrays[key] = np.empty((len(plans), *shape), dtype=dt)
        return arrays
