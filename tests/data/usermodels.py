"""Hand-written user modules for tests/test_import_torch.py (what a user would write)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Functional(nn.Module):
    """Functional ops: F.relu, torch.cat, +, *, view-as-flatten, x.mean, chunk, permute, hardswish."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = nn.Linear(16 * 4 * 4 + 16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        a, b = x.chunk(2, dim=1)
        x = torch.cat([a, F.hardswish(self.dw(b))], 1)
        x = x + x * torch.sigmoid(x)
        x = x.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
        pooled = F.max_pool2d(x, 2)
        flat = pooled.view(pooled.size(0), -1)
        return self.fc(torch.cat([flat, x.mean([2, 3])], 1))


class TwoHeads(nn.Module):
    """A model returning a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls = nn.Linear(8, 4)
        self.box = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.cls(h), self.box(h)


class Shared(nn.Module):
    """One conv applied twice (weights shared)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(self.conv(x)))


class SharedDeep(nn.Module):
    """A whole block called twice, and one linear used by two heads (weights shared across modules)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.block(self.block(self.stem(x)))
        a = F.adaptive_avg_pool2d(x, 1).flatten(1)
        b = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.fc(a), self.fc(b)


class Untraceable(nn.Module):
    """Data-dependent control flow."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.sum() > 0:
            return y
        return -y


class Unknown(nn.Module):
    """Ops archcalc does not know: nn.Upsample and a subtraction."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(self.up(y - y.mean([2, 3], keepdim=True)))


class WithMask(nn.Module):
    """A forward with a second argument that has a default."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x)


def plain_sequential() -> nn.Sequential:
    """A root nn.Sequential: every layer named by its position only."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
