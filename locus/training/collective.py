"""How the training loop's workers see each other: a single process, or a torch.distributed
process group (Ray Train's workers). Each worker holds a shard of the models; validation
gathers every shard's predictions so that all workers compute the same metrics."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist


class Collective(Protocol):
    rank: int
    world_size: int

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        """Concatenate every worker's rows, in rank order; every worker gets the result."""

    def gather_list(self, items: list) -> list:
        """Concatenate every worker's list, in rank order; every worker gets the result."""

    def max_value(self, value: float) -> float:
        """The largest of the workers' values; every worker gets it."""


class SingleProcess:
    """One worker holding every model."""

    rank = 0
    world_size = 1

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        return array

    def gather_list(self, items: list) -> list:
        return list(items)

    def max_value(self, value: float) -> float:
        return value


class ProcessGroup:
    """The default torch.distributed group (gloo on CPU, nccl on GPU: objects go through pickling)."""

    def __init__(self) -> None:
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None

    def _gather(self, obj: object) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        return np.concatenate(self._gather(array), axis=0)

    def gather_list(self, items: list) -> list:
        return [x for part in self._gather(list(items)) for x in part]

    def max_value(self, value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor.item())


def current() -> Collective:
    """The process group when torch.distributed is initialised with several workers, else one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return ProcessGroup()
    return SingleProcess()
