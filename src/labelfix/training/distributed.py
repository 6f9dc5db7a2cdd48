"""One process per device under torchrun (DDP), or a single process: the rest of training asks this module."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from labelfix.devices import resolve_device


@dataclass(frozen=True)
class Context:
    """Where this process trains: its rank among `world_size` processes and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def start(device_name: str = "auto") -> Context:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on CUDA, Gloo on the CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(device=resolve_device(device_name))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)


def stop(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(network: torch.nn.Module, context: Context) -> torch.nn.Module:
    """The network in DistributedDataParallel when there are several processes, else as it is."""
    if not context.distributed:
        return network
    ids = [context.device.index] if context.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(network, device_ids=ids)


def sum_over_processes(values: list[float], context: Context) -> list[float]:
    """Element-wise sum of `values` over all processes (as given with one process)."""
    if not context.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def share_buffers(network: torch.nn.Module, context: Context) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every process, so all evaluate the same network."""
    if context.distributed:
        for buffer in network.buffers():
            dist.broadcast(buffer, src=0)


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()
