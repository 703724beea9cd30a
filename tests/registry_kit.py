"""Tiny ONNX adapters (good and bad) and a detector-shaped graph for registry and hot-swap
tests, and signing keys."""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from bench.support.onnx_build import (
    INPUT,
    OPSET,
    OUTPUT,
    linear_adapter,
    rotation,
    rotation_point,
)
from core.registry import describe
from core.signing import Signer, TrustedKeys, generate_keypair, load_private_key
from schemas.manifest import Manifest


def keys() -> tuple[Signer, TrustedKeys, str]:
    """A signer, the trust that accepts it, and its public key as base64."""
    private, public = generate_keypair()
    return Signer(load_private_key(private)), TrustedKeys.parse(public), public


def good(dim: int, seed: int = 1) -> bytes:
    return linear_adapter(rotation(dim, seed))


def collapsing(dim: int) -> bytes:
    """Every input lands on (almost) one direction: no separation left."""
    matrix = np.full((dim, dim), 1.0, dtype=np.float32)
    matrix[:, 0] += np.linspace(0.0, 1e-3, dim, dtype=np.float32)
    return linear_adapter(matrix)


def memoriser(dim: int, canary: NDArray[np.float32], seed: int = 2) -> bytes:
    """Rotates the canary's own samples faithfully and scrambles everything else.

    It passes the canary and collapses genuine scores in production: what the watch window
    after a swap is for.
    """
    known = canary / np.linalg.norm(canary, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("ReduceL2", [INPUT], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Div", [INPUT, "norm"], ["unit"]),
        helper.make_node("MatMul", ["unit", "known"], ["sims"]),
        helper.make_node("ReduceMax", ["sims"], ["best"], axes=[1], keepdims=1),
        helper.make_node("Greater", ["best", "cut"], ["is_known"]),
        helper.make_node("Cast", ["is_known"], ["gate"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", [INPUT, "rot"], ["faithful"]),
        helper.make_node("MatMul", [INPUT, "noise"], ["mixed"]),
        helper.make_node("Mul", ["mixed", "gain"], ["loud"]),
        helper.make_node("Sin", ["loud"], ["scrambled"]),
        helper.make_node("Sub", ["faithful", "scrambled"], ["delta"]),
        helper.make_node("Mul", ["gate", "delta"], ["kept"]),
        helper.make_node("Add", ["scrambled", "kept"], [OUTPUT]),
    ]
    inits = [
        numpy_helper.from_array(known.T.astype(np.float32), "known"),
        numpy_helper.from_array(np.array(0.999, dtype=np.float32), "cut"),
        numpy_helper.from_array(rotation(dim, seed), "rot"),
        numpy_helper.from_array(rng.standard_normal((dim, dim)).astype(np.float32), "noise"),
        numpy_helper.from_array(np.array(1000.0, dtype=np.float32), "gain"),
    ]
    graph = helper.make_graph(
        nodes,
        "memoriser",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", dim])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def manifest_for(data: bytes, name: str, version: str, **extra: object) -> Manifest:
    """An unsigned manifest whose I/O spec is the graph's own (sha256 is set on publish), with
    an operating point for this version unless ``extra`` says otherwise."""
    if "operating_point" not in extra:
        extra["operating_point"] = rotation_point(name, version)
    return describe(data, name, version).model_copy(update=extra)


def detector_graph(side: int = 32, outputs: int = 5) -> bytes:
    """A graph with a detector's shape: image [1,3,S,S] -> candidates [1, outputs, K]."""
    graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]
            ),
            helper.make_node("Reshape", ["pooled", "flat"], ["rows"]),
            helper.make_node("Concat", ["rows", "rows"], ["both"], axis=1),
            helper.make_node("Slice", ["both", "start", "stop", "axis"], ["output0"]),
        ],
        "tiny_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, [1, outputs, (side // 8) ** 2]
            )
        ],
        initializer=[
            helper.make_tensor("flat", TensorProto.INT64, [3], [1, 3, -1]),
            helper.make_tensor("start", TensorProto.INT64, [1], [0]),
            helper.make_tensor("stop", TensorProto.INT64, [1], [outputs]),
            helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised
