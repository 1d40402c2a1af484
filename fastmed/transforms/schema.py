"""The op schema: one table, one entry per op, the single source of opcodes and support.

Each :class:`OpSchema` entry says what an op is (spatial, intensity or patch pass),
whether it draws random params, which backends run it, and which per-voxel
instructions it emits. An instruction (:class:`Instruction`) has its opcode and its
float layout; an op that brings a new instruction declares it inline in its entry.

Derived from this table (never written twice):

- ``csrc/include/fastmed/opcodes.h``: the C++ opcode enum, each instruction's float
  count, and the dtype codes, written by ``python -m fastmed.transforms._gen_opcodes``
  (a test checks that regenerating gives the same bytes);
- the opcode constants and ``OPCODE_PARAMS`` of :mod:`fastmed.transforms.plan`;
- the support table and DALI templates of :mod:`fastmed.backends.dali_support`;
- the dtype codes of the CUDA job table (:mod:`fastmed.backends.cuda_jobs`).

Adding an intensity op: a spec file ``fastmed/transforms/<op>.py``, one ``FM_HD``
function (and its ``case``) in ``csrc/include/fastmed/intensity.h``, and one entry here
(then regenerate the header).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["spatial", "intensity", "pass"]

ALL = ("cpu", "cpu-reference", "cuda", "dali")
NO_DALI = ("cpu", "cpu-reference", "cuda")
BACKENDS = ALL


@dataclass(frozen=True)
class Counted:
    """A variable float layout: the instruction's first float ``n`` sets how many follow.

    Parameters
    ----------
    n_min, n_max
        The range of ``n`` (an integer; the kernel and the validator refuse others).
    tail
        Number of floats after the fixed ones for a given ``n``.
    """

    n_min: int
    n_max: int
    tail: Callable[[int], int]


@dataclass(frozen=True)
class Instruction:
    """One per-voxel instruction of the fused intensity program.

    Parameters
    ----------
    name
        snake_case name; the C++ enumerator is ``kOp`` + CamelCase (``clip`` -> ``kOpClip``).
    code
        The opcode (``ops[k, 0]`` of a program).
    params
        Names of its fixed floats, in order.
    counted
        For variable layouts: ``params[0]`` is ``n`` and ``counted.tail(n)`` floats follow.
    per_voxel_random
        Whether it varies per voxel position or draw (noise, bias field): left out of the
        statistics prefixes (``skip_random`` of the native program runner).
    """

    name: str
    code: int
    params: tuple[str, ...]
    counted: Counted | None = None
    per_voxel_random: bool = False

    @property
    def enumerator(self) -> str:
        """The C++ enumerator name."""
        return "kOp" + "".join(w.capitalize() for w in self.name.split("_"))

    def param_count(self, n: int = 0) -> int:
        """Floats of the instruction (``n``: its first float, for counted layouts)."""
        if self.counted is None:
            return len(self.params)
        if not self.counted.n_min <= n <= self.counted.n_max:
            raise ValueError(f"{self.name}: n must be in [{self.counted.n_min}, {self.counted.n_max}], got {n}")
        return len(self.params) + self.counted.tail(n)


@dataclass(frozen=True)
class OpSchema:
    """One op (a registered spec class) and everything the engine needs to know about it.

    Parameters
    ----------
    name
        The spec class name (``RandomGamma``).
    kind
        ``"spatial"`` (fused into the sampling map), ``"intensity"`` (per-voxel program)
        or ``"pass"`` (a patch pass after the fused kernel).
    random
        Whether it draws params from the keyed RNG.
    backends
        The backends that run it.
    emits
        The instructions it emits per channel when applied, in order (the DALI template).
    """

    name: str
    kind: Kind
    random: bool
    backends: tuple[str, ...] = ALL
    emits: tuple[Instruction, ...] = field(default=())


CLIP = Instruction("clip", 1, ("lo", "hi"))
AFFINE = Instruction("affine", 2, ("mul", "add"))
GAMMA = Instruction("gamma", 3, ("lo", "hi", "gamma", "invert"))
NOISE = Instruction("noise", 4, ("std",), per_voxel_random=True)
BIAS_FIELD = Instruction(
    "bias_field", 5, ("order",), Counted(0, 8, lambda n: (n + 1) * (n + 2) * (n + 3) // 6), per_voxel_random=True
)
HISTOGRAM_SHIFT = Instruction("histogram_shift", 6, ("n",), Counted(2, 16, lambda n: 2 * n))  # n, x[n], y[n]

OPS: tuple[OpSchema, ...] = (
    OpSchema("RandomCrop", "spatial", True),
    OpSchema("CenterCrop", "spatial", False),
    OpSchema("RandomFlip", "spatial", True),
    OpSchema("RandomRot90", "spatial", True),
    OpSchema("RandomAffine", "spatial", True),
    OpSchema("Resample", "spatial", False),
    OpSchema("Letterbox", "spatial", False),
    OpSchema("RandomElastic", "spatial", True, NO_DALI),  # DALI has no 3D elastic op
    OpSchema("Window", "intensity", False, ALL, (CLIP, AFFINE)),
    OpSchema("Clip", "intensity", False, ALL, (CLIP,)),
    OpSchema("Normalize", "intensity", False, ALL, (AFFINE,)),
    OpSchema("ScaleIntensity", "intensity", False, ALL, (AFFINE,)),
    OpSchema("RandomGamma", "intensity", True, ALL, (GAMMA,)),
    OpSchema("RandomContrast", "intensity", True, ALL, (AFFINE,)),
    OpSchema("RandomBrightness", "intensity", True, ALL, (AFFINE,)),
    OpSchema("RandomGaussianNoise", "intensity", True, ALL, (NOISE,)),  # DALI: its own RNG, not Philox
    OpSchema("RandomBiasField", "intensity", True, NO_DALI, (BIAS_FIELD,)),
    OpSchema("RandomHistogramShift", "intensity", True, NO_DALI, (HISTOGRAM_SHIFT,)),
    OpSchema("RandomGaussianBlur", "pass", True, NO_DALI),  # DALI blurs with another border rule
    OpSchema("RandomLowRes", "pass", True, NO_DALI),
    OpSchema("VoxelOp", "pass", True, NO_DALI),  # custom Python ops: numba on CPU, numba.cuda on GPU
    OpSchema("PatchOp", "pass", True, NO_DALI),
)

# Element types of source and output arrays: the codes the native jobs carry.
DTYPE_CODES: dict[str, int] = {
    "uint8": 0,
    "int16": 1,
    "uint16": 2,
    "int32": 3,
    "float32": 4,
    "float16": 5,
    "bfloat16": 6,
}
# Source dtypes the device kernel reads (fm::DeviceDType).
DEVICE_SOURCE_DTYPES = ("uint8", "int16", "uint16", "int32", "float32")
# Output kinds of a job (fm::DeviceOut): float32, float16 bits, bfloat16 bits, the source dtype.
OUT_KINDS: dict[str, int] = {"float32": 0, "float16": 1, "bfloat16": 2, "same": 3}


def ops_by_name() -> dict[str, OpSchema]:
    """Every op's entry by spec class name."""
    return {op.name: op for op in OPS}


def instructions() -> tuple[Instruction, ...]:
    """Every instruction some op emits, by opcode (codes and names checked unique)."""
    seen: dict[int, Instruction] = {}
    for op in OPS:
        for ins in op.emits:
            other = seen.setdefault(ins.code, ins)
            if other != ins:
                raise ValueError(f"opcode {ins.code} declared twice ({other.name}, {ins.name})")
    names = [i.name for i in seen.values()]
    if len(set(names)) != len(names) or 0 in seen:
        raise ValueError("instruction names must be unique and opcode 0 is reserved")
    return tuple(seen[c] for c in sorted(seen))


def instruction(name: str) -> Instruction:
    """The instruction called ``name``."""
    for ins in instructions():
        if ins.name == name:
            return ins
    raise KeyError(name)


def opcode(name: str) -> int:
    """The opcode of instruction ``name``."""
    return instruction(name).code


def support() -> dict[str, tuple[str, ...]]:
    """Op name -> the backends that run it."""
    return {op.name: op.backends for op in OPS}
