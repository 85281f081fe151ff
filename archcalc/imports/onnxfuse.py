"""Several ONNX nodes that are one archcalc layer, merged as the reader meets their last node.

torch writes some modules as a few nodes: MatMul + Add (a linear with bias), x * Sigmoid(x) (SiLU),
x * HardSigmoid(x) (Hardswish), Div/Erf/Add/Mul/Mul (GELU before opset 20), Transpose/LayerNormalization/
Transpose (torchvision's LayerNorm2d), Reshape/Transpose/Reshape (channel shuffle), the Mul/Reshape/Pad/
AveragePool/.../Pow/Div arithmetic of F.local_response_norm (LRN, onnxfuse_lrn.py), LeNet-5's units
(onnxfuse_lenet.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.imports.onnxfuse_chain import Fused, Matcher, attempt
from archcalc.imports.onnxfuse_lenet import CHAINS as LENET
from archcalc.imports.onnxfuse_lrn import lrn
from archcalc.imports.onnxops import OnnxCall


@dataclass
class Item:
    """One layer before its path is known: the scope the exporter named, the op's own segment."""

    scope: str
    name: str
    op: str
    args: dict[str, Any]
    inputs: list[str]  # tensor names
    output: str
    shape: tuple[int, ...]
    source: str
    weights: tuple[str, ...] = ()  # the float initializers it reads by name (a module called twice reads the same)


CHAINS: dict[str, list[Matcher]] = {"Div": [lrn], **LENET}


class Fusions:
    """Mixed into the reader: ``items`` so far, ``uses`` per tensor, ``alias`` for outputs that are no layer,
    ``producer`` (tensor -> the node writing it) and ``shapes`` (tensor -> its TensorShapeProto)."""

    items: list[Item]
    uses: dict[str, int]
    alias: dict[str, str]
    producer: dict[str, Any]
    shapes: dict[str, Any]
    const_dims: dict[str, tuple[int, ...]]

    def shape(self, tensor: str, node: Any) -> tuple[int, ...]:
        raise NotImplementedError

    def value(self, name: str) -> Any:
        raise NotImplementedError

    def _fused(self, node: Any, live: list[str], call: OnnxCall) -> bool:
        if node.op_type == "Transpose":
            return self._layernorm2d(node, call)
        if node.op_type == "Reshape":
            return self._shuffle(node)
        if self._chain(node) or self._subsample_bias(node, call):
            return True
        return self._fused_merge(node, live, call)

    def _chain(self, node: Any) -> bool:
        """The chains that run through constant arithmetic, walked back from this node (onnxfuse_chain.py)."""
        producer = getattr(self, "producer", None)  # the reader's map of tensor -> node, when it has one
        if producer is None or node.domain not in ("", "ai.onnx"):
            return False
        for match in CHAINS.get(node.op_type, []):
            found = attempt(match, producer, self, node)
            if found is not None and self._replace(node, *found):
                return True
        return False

    def _replace(self, node: Any, f: Fused, chain: set[str]) -> bool:
        """The layers of the chain's nodes (the last ones read) become one layer, in the first one's scope."""
        made = [i for i in self.items if i.output in chain]
        if not made or self.items[-len(made) :] != made:
            return False
        args = f.args
        if f.op == "conv2d":  # a connection table: the maps' convs, alike, one output map each
            convs = [i.args for i in made if i.op == "conv2d"]
            if len(convs) != len(f.args["table"]) or any(c != convs[0] for c in convs) or convs[0].get("out") != 1:
                return False
            args = {**convs[0], "out": len(convs), "table": f.args["table"]}
        del self.items[-len(made) :]
        out = node.output[0]
        self.items.append(Item(made[0].scope, f.name, f.op, args, [f.x], out, self.shape(out, node), f.source))
        return True

    def _subsample_bias(self, node: Any, call: OnnxCall) -> bool:
        """Add of 1 x C x 1 x 1 constants after a subsample without bias: its bias."""
        last = self.items[-1] if self.items and node.op_type == "Add" else None
        if last is None or last.op != "subsample" or last.args["bias"] or last.output not in node.input:
            return False
        if self.uses.get(last.output) != 1 or list(call.const_dims.values()) != [(1, last.shape[0], 1, 1)]:
            return False
        last.args["bias"], last.source = True, last.source + "+Add"
        self.alias[node.output[0]] = last.output
        return True

    def _layernorm2d(self, node: Any, call: OnnxCall) -> bool:
        """Transpose(0,2,3,1) -> LayerNormalization(last axis) -> Transpose(0,3,1,2): torchvision's LayerNorm2d."""
        if call.attr("perm") != [0, 3, 1, 2] or len(self.items) < 2:
            return False
        to_last, norm = self.items[-2:]
        chain = (
            to_last.op == "permute"
            and to_last.args["dims"] == [0, 2, 3, 1]
            and norm.op == "layernorm"
            and norm.inputs == [to_last.output]
            and node.input[0] == norm.output
            and all(self.uses.get(i.output) == 1 for i in (to_last, norm))
        )
        if not chain:
            return False
        del self.items[-2:]
        shape = self.shape(node.output[0], node)
        self.items.append(
            Item(
                norm.scope,
                norm.name,
                "layernorm2d",
                norm.args,
                to_last.inputs,
                node.output[0],
                shape,
                "onnx Transpose+LayerNormalization+Transpose",
            )
        )
        return True

    def _shuffle(self, node: Any) -> bool:
        """Reshape to (g, C/g, H, W), Transpose(0,2,1,3,4), Reshape back: channel_shuffle(g)."""
        if len(self.items) < 2:
            return False
        split, swap = self.items[-2:]
        x = split.inputs[0] if split.inputs else ""
        chain = (
            split.source.startswith("onnx Reshape")
            and len(split.shape) == 4
            and swap.op == "permute"
            and swap.args["dims"] == [0, 2, 1, 3, 4]
            and swap.inputs == [split.output]
            and node.input[0] == swap.output
            and all(self.uses.get(i.output) == 1 for i in (split, swap))
        )
        if not chain or self.shape(x, node) != self.shape(node.output[0], node):
            return False
        del self.items[-2:]
        shape = self.shape(node.output[0], node)
        args = {"groups": split.shape[0]}
        self.items.append(Item(split.scope, "shuffle", "channel_shuffle", args, [x], node.output[0], shape,
                                "onnx Reshape+Transpose+Reshape"))  # fmt: skip
        return True

    def _fused_merge(self, node: Any, live: list[str], call: OnnxCall) -> bool:
        """Nodes that are one layer: MatMul + Add(bias) -> linear with bias; x * Sigmoid(x) -> silu,
        x * HardSigmoid(x) -> hardswish; torch's decomposed GELU -> gelu."""
        if node.op_type not in ("Add", "Mul") or not self.items:
            return False
        last = self.items[-1]
        if self.uses.get(last.output) != 1 or last.output not in node.input:
            return False
        bias = list(call.const_dims.values()) == [(last.args.get("out"),)]
        if node.op_type == "Add" and len(live) == 1 and last.op == "linear" and not last.args["bias"] and bias:
            last.args["bias"] = True
            self.alias[node.output[0]] = last.output
            return True
        gated = {"sigmoid": "silu", "hardsigmoid": "hardswish"}.get(last.op)
        if node.op_type == "Mul" and len(live) == 2 and gated and set(live) == {last.output, *last.inputs}:
            last.op, last.source = gated, f"onnx {last.source.split()[1]}+Mul"
            self.alias[node.output[0]] = last.output
            return True
        return node.op_type == "Mul" and len(live) == 1 and self._gelu(node, call)

    def _gelu(self, node: Any, call: OnnxCall) -> bool:
        """torch's GELU before opset 20: x * (Erf(x / sqrt 2) + 1) * 0.5, five nodes -> one gelu layer."""
        if len(self.items) < 4 or [float(v.reshape(-1)[0]) for v in call.consts.values() if v is not None] != [0.5]:
            return False
        div, erf, add, mul = self.items[-4:]
        x = div.inputs[0]
        chain = (
            [i.source.split(" (")[0] for i in (div, erf, add)] == ["onnx Div", "onnx Erf", "onnx Add"]
            and erf.inputs == [div.output]
            and add.inputs == [erf.output]
            and mul.op == "mul"
            and set(mul.inputs) == {x, add.output}
            and all(self.uses.get(i.output) == 1 for i in (div, erf, add))
        )
        if not chain:
            return False
        del self.items[-4:]
        self.items.append(Item(div.scope, "gelu", "gelu", {}, [x], mul.output, mul.shape, "onnx Div+Erf+Add+Mul+Mul"))
        self.alias[node.output[0]] = mul.output
        return True
