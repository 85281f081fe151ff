"""torchvision as the oracle: every classification model it lists, against the bundled spec that mirrors it.

One test per name in ``torchvision.models.list_models(module=torchvision.models)``. A model with a bundled
spec is built with random init on the meta device (``weights=None``: nothing is ever downloaded) and must
equal the spec's ``analyze()`` totals: params and buffers (torch ``numel``), and MACs = FlopCounterMode / 2
at the spec's default input. A CNN classifier without a bundled spec is skipped with "no bundled spec yet
(issue 10)", so the skip list is the gap; the transformers (vit_*, swin_*, maxvit_*) are skipped as not CNNs.

torchvision is imported through tests/tvshim.py (see there why); the package never imports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tvshim import import_torchvision

import archcalc
from archcalc.analysis.records import analyze
from archcalc.frontend.spec import bundled_names

# torchvision name -> the bundled spec that mirrors it. Add a row with each spec that mirrors a torchvision model.
TV_SPECS = {
    "alexnet": "alexnet",
    "vgg11": "vgg11",
    "vgg11_bn": "vgg11-bn",
    "vgg13": "vgg13",
    "vgg16": "vgg16",
    "vgg16_bn": "vgg16-bn",
    "vgg19": "vgg19",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "densenet121": "densenet121",
    "densenet161": "densenet161",
    "densenet169": "densenet169",
    "densenet201": "densenet201",
    "googlenet": "googlenet-tv",  # bundled 'googlenet' is the paper's Caffe network
}
NOT_CNN = ("vit_", "swin_", "maxvit_")

# the published weights' layout: no aux heads, and no init (meta tensors hold no values to initialise)
BUILD_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


def _model_names() -> list[str]:
    try:
        tv = import_torchvision()
    except ModuleNotFoundError:
        return ["torchvision-not-installed"]  # the torchvision fixture skips it, with the reason
    return sorted(tv.models.list_models(module=tv.models))


def test_mapped_specs_are_bundled() -> None:
    assert set(TV_SPECS.values()) <= set(bundled_names())


def test_the_package_never_imports_torchvision() -> None:
    for path in Path(archcalc.__file__).parent.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torchvision\b", path.read_text(), re.MULTILINE), path


@pytest.mark.parametrize("tv_name", _model_names())
def test_torchvision_classifier_matches_its_spec(torchvision: ModuleType, tv_name: str) -> None:
    if tv_name.startswith(NOT_CNN):
        pytest.skip("a transformer, not a CNN classifier: outside issue 10's 68")
    spec = TV_SPECS.get(tv_name)
    if spec is None:
        pytest.skip("no bundled spec yet (issue 10)")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    report = analyze(spec)
    with torch.device("meta"):
        model = torchvision.models.get_model(tv_name, weights=None, **BUILD_KWARGS.get(tv_name, {})).eval()
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    assert sum(b.numel() for b in model.buffers()) == report.totals.buffers
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *report.input, device="meta"))
    flops = counter.get_total_flops()
    assert flops % 2 == 0 and flops // 2 == report.totals.macs
