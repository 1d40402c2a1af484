"""Which ops each backend runs, and how a fused intensity program maps onto a DALI graph.

A DALI pipeline is a fixed graph, while fastmed's per-voxel program differs from
sample to sample (an op with ``p < 1`` emits nothing when it is skipped). The graph
therefore holds a *template*: a fixed sequence of slots, one per instruction kind
(clip, affine, gamma, noise). Each sample's program (per channel) is embedded into
the template as a subsequence; the slots it does not use get identity parameters
(clip to +-FLT_MAX, affine 1 * v + 0, gamma switched off by a 0/1 flag, noise std 0),
which leave values unchanged exactly. Nothing here imports DALI.

The support table (:data:`SUPPORT`) comes from the op schema
(:mod:`fastmed.transforms.schema`); ``docs/backends.md`` shows it with how DALI runs
each op (a test checks the two agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.transforms.plan import (
    OP_AFFINE,
    OP_CLIP,
    OP_GAMMA,
    OP_NOISE,
    OPCODE_PARAMS,
    ArrayPlan,
    BlurPass,
    LowResPass,
    PatchNormalizePass,
    PythonPass,
    SamplePlan,
)
from fastmed.transforms.schema import ALL as ALL
from fastmed.transforms.schema import NO_DALI as NO_DALI
from fastmed.transforms.schema import OPS, instructions, support

# Op name -> backends that run it (from the op schema).
SUPPORT: dict[str, tuple[str, ...]] = support()

# Instruction kinds per channel that each DALI-supported intensity op emits when applied.
DALI_TEMPLATE: dict[str, tuple[int, ...]] = {
    op.name: tuple(ins.code for ins in op.emits) for op in OPS if op.emits and "dali" in op.backends
}

# Parameters per slot kind, in the order the graph reads them, and their identity values.
SLOT_PARAMS: dict[int, tuple[float, ...]] = {
    OP_CLIP: (-3.0e38, 3.0e38),  # lo, hi
    OP_AFFINE: (1.0, 0.0),  # mul, add
    OP_GAMMA: (0.0, 1.0, 1.0, 0.0, 0.0),  # lo, hi, gamma, invert, on
    OP_NOISE: (0.0,),  # std (one per sample: fn.noise.gaussian takes a scalar)
}
OP_NAMES = {ins.code: ins.name.replace("_", " ") for ins in instructions()}


def supported_ops(backend: str) -> list[str]:
    """Names of the ops a backend runs."""
    return sorted(name for name, where in SUPPORT.items() if backend in where)


def unsupported_error(backend: str, names: Iterable[str]) -> TransformError:
    """The error listing what a backend cannot run, and what it can."""
    bad = sorted(set(names))
    return TransformError(
        f"backend {backend!r} does not support: {', '.join(bad)} "
        f"(supported: {', '.join(supported_ops(backend))}; use device='cpu' or 'cuda' for the rest)"
    )


def ops_unsupported_by_dali(ops: Sequence[object]) -> list[str]:
    """Names (with the reason where it is a config) of the ops in a pipeline DALI cannot run."""
    bad = []
    for op in ops:
        name = type(op).__name__
        if name not in SUPPORT or "dali" not in SUPPORT[name]:
            bad.append(name)
        elif name == "Normalize" and getattr(op, "stats", "source") == "patch":
            bad.append("Normalize(stats='patch')")
    return bad


def plan_unsupported_by_dali(plan: SamplePlan) -> list[str]:
    """What in a compiled plan DALI cannot run, named by the op that put it there."""
    bad = []
    if plan.spatial.grid is not None:
        bad.append("RandomElastic")
    for ap in plan.arrays:
        if ap.pad_mode == "reflect":
            bad.append("pad_mode='reflect'")
        for ps in ap.passes:
            if isinstance(ps, BlurPass):
                bad.append("RandomGaussianBlur")
            elif isinstance(ps, LowResPass):
                bad.append("RandomLowRes")
            elif isinstance(ps, PatchNormalizePass):
                bad.append("Normalize(stats='patch')")
            elif isinstance(ps, PythonPass):
                bad.append("custom Python op")
        codes = {int(code) for code in ap.program.ops[:, 0]}
        bad.extend(op.name for op in OPS if "dali" not in op.backends and codes & {i.code for i in op.emits})
    return bad


def channel_program(ap: ArrayPlan, channel: int) -> list[tuple[int, tuple[float, ...]]]:
    """The instructions that reach one channel: (opcode, params) in order."""
    out = []
    ops, params = ap.program.ops, ap.program.params
    for code, ch, off, _ in ops.tolist():
        if ch < 0 or ch == channel:
            n = OPCODE_PARAMS.get(code) if code in SLOT_PARAMS else None
            if n is None:
                raise TransformError(f"DALI backend: opcode {OP_NAMES.get(code, code)} is not supported")
            out.append((int(code), tuple(float(v) for v in params[off : off + n])))
    return out


def merge_template(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """A shortest common supersequence of two opcode sequences (both embed into it)."""
    n, m = len(a), len(b)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                dp[i][j] = i + j
            elif a[i - 1] == b[j - 1]:
                dp[i][j] = dp[i - 1][j - 1] + 1
            else:
                dp[i][j] = min(dp[i - 1][j], dp[i][j - 1]) + 1
    out: list[int] = []
    i, j = n, m
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            i, j = i - 1, j - 1
        elif dp[i - 1][j] <= dp[i][j - 1]:
            out.append(a[i - 1])
            i -= 1
        else:
            out.append(b[j - 1])
            j -= 1
    out.extend(reversed(a[:i]))
    out.extend(reversed(b[:j]))
    return tuple(reversed(out))


def embed(seq: Sequence[int], template: Sequence[int]) -> list[int]:
    """Slot index of each instruction (greedy leftmost subsequence match)."""
    where, t = [], 0
    for code in seq:
        while t < len(template) and template[t] != code:
            t += 1
        if t == len(template):
            names = [OP_NAMES.get(c, str(c)) for c in seq]
            raise TransformError(f"DALI backend: program {names} does not fit the pipeline's template")
        where.append(t)
        t += 1
    return where


@dataclass(frozen=True)
class SlotValues:
    """Per-sample parameters of every slot of one array's template.

    ``params[j]`` has shape ``(n_params, C)`` (noise: ``(1, 1)``).
    """

    params: list[npt.NDArray[np.float32]]


def slot_values(ap: ArrayPlan, channels: int, template: Sequence[int]) -> SlotValues:
    """Fill a template's slots from one sample's program (identity where unused)."""
    vals = [np.tile(np.asarray(SLOT_PARAMS[code], np.float32)[:, None], (1, channels)) for code in template]
    noise_std: dict[int, float] = {}
    for c in range(channels):
        prog = channel_program(ap, c)
        for slot, (code, p) in zip(embed([k for k, _ in prog], template), prog, strict=True):
            if code == OP_GAMMA:
                vals[slot][:, c] = (*p, 1.0)
            elif code == OP_NOISE:
                noise_std.setdefault(slot, p[0])
                if noise_std[slot] != p[0]:
                    raise TransformError("DALI backend: noise with a different std per channel is not supported")
                vals[slot][:, c] = p
            else:
                vals[slot][:, c] = p
    for j, code in enumerate(template):
        if code == OP_NOISE:
            vals[j] = vals[j][:, :1]
    return SlotValues(vals)
