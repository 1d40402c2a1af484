"""Intensity ops of one array of a sample, compiled into per-voxel programs and patch passes.

The instructions fuse into one per-voxel program, cut where a patch pass (blur, low-res,
patch statistics) must see the whole patch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastmed.transforms.base import Instr, IntensityContext, IntensityOp, Op, Params
from fastmed.transforms.plan import IntensityProgram, PatchPass, ProgramOp, ProgramPass
from fastmed.transforms.sample_access import WindowReader
from fastmed.transforms.stats import STAT_FIELDS, Stats, propagate, source_stats, supplied_stats


def build_intensity(
    ops: Sequence[Op],
    sample: Mapping[str, Any],
    name: str,
    ops_params: Sequence[Params],
    key: tuple[int, int],
    index: int,
    channels: int,
    reader: WindowReader,
    *,
    image_key: str,
    stats_voxels: int,
) -> tuple[IntensityProgram, tuple[PatchPass, ...]]:
    """Emit every intensity op's instructions and cut them into fused program + passes.

    Statistics an op asks for come, in order of preference, from the per-volume
    statistics supplied with the sample (``sample["stats"]`` or a lazy volume's
    ``stats``; only before any other intensity instruction and without a mask), from
    the window read for a lazy array, or from a strided subsample of an in-memory array.
    """
    emitted: list[ProgramOp] = []  # every program op so far, for statistics prefixes
    cache: dict[tuple[int, int], Stats] = {}
    supplied: list[list[Stats] | None] = []  # looked up on the first request only

    def stats_for(mask_key: str | None, fields: Sequence[str]) -> Any:
        def stats(c: int) -> Stats:
            if not supplied:
                supplied.append(supplied_stats(sample, name, channels, image_key))
            volume_stats = supplied[0]
            need = [STAT_FIELDS.index(f) for f in fields]
            if volume_stats is not None and mask_key is None:
                known = propagate(volume_stats[c], emitted, c)
                if known is not None and all(known[i] is not None for i in need):
                    # Fields the op does not read may be unknown: NaN, never used.
                    return tuple(math.nan if v is None else float(v) for v in known)  # type: ignore[return-value]
            k = (len(emitted), c)
            if k not in cache:
                src = reader.source(name)
                src4 = src[:, None] if src.ndim == 3 else src
                mask = reader.source(mask_key) if mask_key and mask_key in sample else None
                for i, s in enumerate(source_stats(src4, emitted, key, index, mask, stats_voxels)):
                    cache[(len(emitted), i)] = s
            return cache[k]

        return stats

    segments: list[list[ProgramOp]] = [[]]
    passes: list[PatchPass] = []
    value_range: tuple[float, float] | None = None
    for pos, (op, p) in enumerate(zip(ops, ops_params, strict=True)):
        if not isinstance(op, IntensityOp):
            continue
        fields = getattr(op, "stats_fields", STAT_FIELDS)
        ictx = IntensityContext(channels, pos, value_range, stats_for(getattr(op, "mask_key", None), fields))
        instrs: list[Instr] = op.emit(p, ictx)
        for ins in instrs:
            if isinstance(ins, ProgramOp):
                segments[-1].append(ins)
                emitted.append(ins)
            else:
                passes.append(ins)
                segments.append([])
        value_range = op.output_range(p, value_range)
    fused = IntensityProgram.build(segments[0])
    # Interleave: pass k is followed by the program segment k + 1.
    out: list[PatchPass] = []
    for ps, seg in zip(passes, segments[1:], strict=True):
        out.append(ps)
        if seg:
            out.append(ProgramPass(IntensityProgram.build(seg)))
    return fused, tuple(out)
