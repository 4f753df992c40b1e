"""Training on several processes: `torchrun --nproc_per_node=N -m kaokae train ...` starts N copies of the command;
each joins the process group that torchrun describes in its environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT), takes GPU LOCAL_RANK (or the CPU with gloo), samples its own batches, and DDP averages
the gradients. Rank 0 alone prints, writes the model folder and previews."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from kaokae.errors import KaokaeError


@dataclass
class Process:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name not in ("auto", "cpu", "cuda"):
        raise KaokaeError(f"--device must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise KaokaeError("--device cuda: no CUDA GPU is available to PyTorch here")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def start(device: str) -> Process:
    """Join torchrun's process group when started by torchrun; otherwise a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process(0, 1, pick_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world_size,
                            device_id=chosen if chosen.type == "cuda" else None)
    return Process(rank, world_size, chosen)


def any_rank(flag: bool, process: Process) -> bool:
    """True on every rank when `flag` is true on any (so all ranks stop at the same step)."""
    if not process.distributed:
        return flag
    t = torch.tensor([int(flag)], device=process.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def agree_min(value: int, process: Process) -> int:
    """The smallest of every rank's `value`, on every rank."""
    if not process.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=process.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def barrier(process: Process) -> None:
    if process.distributed:
        dist.barrier()


def stop(process: Process) -> None:
    if process.distributed and dist.is_initialized():
        dist.destroy_process_group()
