"""The number format a model runs in: bf16 autocast with channels-last (NHWC) activations where the device computes
bf16 natively, float32 NCHW elsewhere or when asked (`kaokae train --precision fp32`).

bf16 keeps float32's range, so training needs no loss scaling; weights, optimizer state and losses stay float32.
Native bf16: NVIDIA GPUs from Ampere on (tensor cores, cuDNN's NHWC kernels), and CPUs with AMX or AVX512-BF16
(oneDNN's bf16 convolutions); on CPUs without them bf16 runs several times slower than float32, hence float32 there
(docs/benchmarks.md, "Design experiments").
"""

from typing import TYPE_CHECKING

from kaokae.errors import KaokaeError
from kaokae.registry import Registry

if TYPE_CHECKING:
    import torch

# PyTorch is imported where it is used: the option definitions read PRECISIONS without loading it.
PRECISIONS = Registry("precision")
PRECISIONS.add("auto", "bf16 where the device computes bf16 natively (NVIDIA Ampere or newer; CPUs with AMX or "
                       "AVX512-BF16), else fp32", rank=0)
PRECISIONS.add("bf16", "bf16 autocast with channels-last activations (weights and optimizer state stay fp32)", rank=1)
PRECISIONS.add("fp32", "full precision everywhere (slower)", rank=2)


def check(precision: str) -> None:
    """A user's --precision: a one-line KaokaeError unless it is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise KaokaeError(f"--precision must be one of {', '.join(PRECISIONS.names())}, not {precision!r}")


def native_bf16(device: "torch.device") -> bool:
    """Whether `device` computes bf16 natively (faster than float32)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))
    return False


def use_bf16(device: "torch.device", precision: str = "auto") -> bool:
    """`precision` ("auto", "bf16" or "fp32") on `device`: True for bf16 + channels-last, False for float32 NCHW."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS.names())}, not {precision!r}")
    return native_bf16(device) if precision == "auto" else precision == "bf16"


def autocast(device: "torch.device", bf16: bool):
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def memory_format(bf16: bool) -> "torch.memory_format":
    import torch

    return torch.channels_last if bf16 else torch.contiguous_format
