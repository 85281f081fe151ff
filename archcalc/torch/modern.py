"""Modules for the ops of issue 10 that torch has no class for (written here; torchvision is never imported)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d (ConvNeXt): layer norm over the channels of each position of an N x C x H x W
    tensor, computed channels-last; weight and bias as nn.LayerNorm(C)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """torch.permute with fixed dims (the batch included), as torchvision.ops.Permute."""

    def __init__(self, dims: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class Chunk(nn.Module):
    """The index-th piece of torch.chunk(x, chunks, dim)."""

    def __init__(self, chunks: int, index: int, dim: int = 1) -> None:
        super().__init__()
        self.chunks, self.index, self.dim = chunks, index, dim

    def forward(self, x: Tensor) -> Tensor:
        return x.chunk(self.chunks, self.dim)[self.index]


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016) with torchvision.ops.StochasticDepth's semantics.

    At inference, or with p = 0, the input itself. In training, ``row`` keeps each sample with probability
    1 - p (one Bernoulli draw per sample, broadcast over its other dims), ``batch`` keeps the whole batch or
    zeroes it; kept values are divided by 1 - p (unless 1 - p is 0, where everything is zeroed).
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("row", "batch"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
        self.p, self.mode = p, mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
