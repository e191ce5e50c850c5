"""Devices: describe the machine, and known dense peak TFLOP/s per dtype (--device is resolved by models.device).

Peaks are the vendors' dense (no structured sparsity) tensor-core figures from the product
datasheets, in TFLOP/s. "float32" is the plain FP32 (CUDA core) peak; "tf32" applies when
``torch.get_float32_matmul_precision()`` is 'high' or 'medium', which lets float32 matmuls
run on TF32 tensor cores.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass

import torch

#: Dense peak TFLOP/s by GPU model and compute dtype (sparsity figures halved away).
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"float32": 66.9, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "H100 PCIe": {"float32": 51.2, "tf32": 378.0, "bfloat16": 756.0, "float16": 756.0},
    "H100 NVL": {"float32": 60.0, "tf32": 417.5, "bfloat16": 835.5, "float16": 835.5},
    "H200 SXM": {"float32": 66.9, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "H200 NVL": {"float32": 60.0, "tf32": 417.5, "bfloat16": 835.5, "float16": 835.5},
    "GH200": {"float32": 66.9, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "A100": {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0, "float16": 312.0},
    "L4": {"float32": 30.3, "tf32": 60.0, "bfloat16": 121.0, "float16": 121.0},
    "L40S": {"float32": 91.6, "tf32": 183.0, "bfloat16": 362.05, "float16": 362.05},
    "A10": {"float32": 31.2, "tf32": 62.5, "bfloat16": 125.0, "float16": 125.0},
    "V100": {"float32": 15.7, "float16": 125.0},
}

#: torch.cuda.get_device_name() patterns -> PEAK_TFLOPS key; the first match wins.
_NAME_PATTERNS: list[tuple[str, str]] = [
    (r"GH200", "GH200"),
    (r"H200.*NVL", "H200 NVL"),
    (r"H200", "H200 SXM"),
    (r"H100.*NVL", "H100 NVL"),
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100", "H100 SXM"),  # "NVIDIA H100 80GB HBM3" is the SXM part
    (r"A100", "A100"),  # 40GB and 80GB, SXM and PCIe share the peaks
    (r"L40S", "L40S"),
    (r"\bL4\b", "L4"),
    (r"\bA10G?\b", "A10"),
    (r"V100", "V100"),
]

def known_gpu(name: str) -> str | None:
    """The PEAK_TFLOPS key of a CUDA device name (torch.cuda.get_device_name), or None."""
    for pattern, key in _NAME_PATTERNS:
        if re.search(pattern, name, re.IGNORECASE):
            return key
    return None


def peak_tflops(device_name: str, dtype: str, float32_precision: str = "highest") -> float | None:
    """Dense peak TFLOP/s of a known GPU for ``dtype`` (float32 / bfloat16 / float16); None if unknown."""
    key = known_gpu(device_name)
    if key is None:
        return None
    table = PEAK_TFLOPS[key]
    if dtype == "float32" and float32_precision in ("high", "medium") and "tf32" in table:
        return table["tf32"]
    return table.get(dtype)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@dataclass(frozen=True)
class DeviceInfo:
    """What the environment block reports about the device."""

    device: str  # "cpu" or "cuda:0"
    type: str  # "cpu" or "cuda"
    name: str
    total_memory_bytes: int | None
    capability: str | None
    known_gpu: str | None


def describe(device: torch.device) -> DeviceInfo:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return DeviceInfo(str(device), "cuda", props.name, int(props.total_memory), f"{props.major}.{props.minor}",
                          known_gpu(props.name))
    return DeviceInfo("cpu", "cpu", cpu_name(), _total_ram(), None, None)


def _total_ram() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
