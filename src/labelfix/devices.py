"""Where work runs: the torch device, how many decoding workers, how many CPU threads a computation may use, and
how the C library's allocator serves the network's passes."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING

from labelfix.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else the CPU; 'cuda', 'cuda:1', 'cpu' are taken as given."""
    import torch  # here, not at import: default_workers serves code that never loads torch (verify)

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device name; use auto, cpu, cuda or cuda:N") from None


def reduced_precision(device: torch.device) -> torch.dtype | None:
    """The dtype a forward pass may run in without losing what it measures: fp16 on CUDA, bf16 on CPUs with native
    bf16 arithmetic (AMX or AVX-512 BF16: 1.6x the fp32 speed for lite0), None (fp32) elsewhere, where bf16 is
    emulated and slower."""
    import torch

    if device.type == "cuda":
        return torch.float16
    native = [getattr(torch.cpu, name, lambda: False) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return torch.bfloat16 if device.type == "cpu" and any(check() for check in native) else None


def inference_autocast(device: torch.device, reduced: bool = True) -> AbstractContextManager:
    """Autocast to the device's `reduced_precision` when `reduced` and it has one; otherwise a context that does
    nothing (fp32)."""
    import torch

    dtype = reduced_precision(device) if reduced else None
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@contextmanager
def exact_fp32_matmul() -> Iterator[None]:
    """Matrix products in full fp32 on CUDA inside the block: TF32's 10-bit mantissa would move a search's or a
    solver's results away from the CPU's."""
    import torch

    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def network_to(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`network` moved to `device` (in place), channels-last: the layout its convolutions run fastest in (on CUDA,
    and on a CPU too: a training step of lite0 at 224 px 1.4-1.5x faster, a forward pass 1.2-1.5x)."""
    import torch

    return network.to(device, memory_format=torch.channels_last)


def images_to(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch of images (B, C, H, W) on `device`, copied without waiting from pinned memory; channels-last, as
    `network_to` puts the network."""
    import torch

    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images


def default_workers() -> int:
    """Image-decoding worker processes when none are asked for: one per CPU core on small machines; above 4 cores
    one core is left to the main process (which feeds the device and writes the cache), and at most 16."""
    cores = os.cpu_count() or 1
    return cores if cores <= 4 else min(16, cores - 1)


def default_batch_size(device: torch.device, cpu: int = 64, cuda: int = 512) -> int:
    """Images per batch when none is asked for: small on a CPU (memory, progress); on CUDA large enough that the
    device does not wait for Python between its many small kernels (an H200 was under 25% busy at 256 images)."""
    return cuda if device.type == "cuda" else cpu


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's CPU operations on `count` threads inside the block; the previous count is restored."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# glibc's mallopt parameters (malloc.h) and their defaults (mallopt(3))
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
GLIBC_DEFAULTS = {M_MMAP_MAX: 65536, M_TRIM_THRESHOLD: 128 * 1024, M_TOP_PAD: 128 * 1024}
HEAP_REUSE = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 64 << 20}
_heap_reuse = {"depth": 0, "lock": threading.Lock()}


@contextmanager
def reused_heap() -> Iterator[None]:
    """Inside the block, glibc's malloc serves large blocks from its heap instead of mapping fresh pages for each,
    and keeps up to 1 GiB of what is freed for the next ones (`HEAP_REUSE`); on leaving the outermost block, its
    defaults come back and the freed memory goes back to the system. A network's forward and training passes free
    and allocate the same tens of MB of activations at every batch, and fresh pages cost a page fault each:
    measured on 2 CPU cores (AMD EPYC, a virtual machine), lite0's forward pass 2x as fast at 224 px in bf16 and in
    fp32, 1.6x at 160 px, the last stages' training 1.1-1.2x, the same numbers to the bit. Does nothing where the
    C library is not glibc. (Setting these turns off glibc's own adjustment of its mapping threshold for the
    process.)"""
    libc = _glibc()
    if libc is None:
        yield
        return
    with _heap_reuse["lock"]:
        if _heap_reuse["depth"] == 0:
            _mallopt(libc, HEAP_REUSE)
        _heap_reuse["depth"] += 1
    try:
        yield
    finally:
        with _heap_reuse["lock"]:
            _heap_reuse["depth"] -= 1
            if _heap_reuse["depth"] == 0:
                _mallopt(libc, GLIBC_DEFAULTS)
                libc.malloc_trim(0)


def _mallopt(libc: ctypes.CDLL, settings: dict[int, int]) -> None:
    for parameter, value in settings.items():
        libc.mallopt(parameter, value)


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    """The C library where it is glibc (it has `gnu_get_libc_version`, `mallopt` and `malloc_trim`), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version, libc.mallopt, libc.malloc_trim  # noqa: B018 (present, or AttributeError)
    except (OSError, AttributeError):
        return None
    return libc
