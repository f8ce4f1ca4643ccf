"""The scale model (training/scale_model.py): its parameter count from the widths, the exported
directory (external data, contract-v2 config), and ONNX Runtime against PyTorch in float32 and float16."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from training.contract import INPUT_NAMES, OUTPUT_NAMES
from training.export import example_inputs
from training.model import count_params
from training.scale_model import EXTERNAL_DATA, LATENT_SHAPE, SIZES, ScaleConfig, build_network, estimate_parameters, make


@pytest.mark.parametrize("size", ["test", "toy"])
def test_parameter_estimate_is_the_count(size):
    cfg = ScaleConfig(out="unused", size=size)
    assert estimate_parameters(cfg.model_config()) == count_params(build_network(cfg))


def test_named_sizes_are_the_promised_scales():
    count = lambda s: estimate_parameters(ScaleConfig(out="unused", size=s).model_config())  # noqa: E731
    assert 0.9e8 < count("100m") < 1.1e8
    assert 0.95e9 < count("1b") < 1.1e9
    cfg = ScaleConfig(out="unused", size="100m").model_config()
    assert cfg.image_tokens == 256 and tuple(cfg.latent_shape) == LATENT_SHAPE and cfg.max_tokens == 512
    assert set(SIZES) == {"test", "toy", "100m", "1b"}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return {d: make(ScaleConfig(out=str(root / d), size="test", dtype=d)) for d in ("float32", "float16")}


def test_directory_is_contract_v2_with_external_data(dirs):
    for dtype, out in dirs.items():
        config = json.loads((out / "config.json").read_text())
        assert config["contract_version"] == 2 and config["dtype"] == dtype
        assert config["onnx_external_data"][0]["file"] == EXTERNAL_DATA
        assert config["latent_shape"] == [16, 32, 32] and config["image_shape"] == [3, 256, 256]
        assert config["max_tokens"] == 512 and config["vocab_size"] == 320
        # every weight over 1 kB lives in the external file, not in the graph
        graph = onnx.load(str(out / "model.onnx"), load_external_data=False)
        large = [t for t in graph.graph.initializer if np.prod(t.dims) * (2 if dtype == "float16" else 4) > 1024]
        assert large and all(t.data_location == onnx.TensorProto.EXTERNAL for t in large)


def test_onnx_matches_torch_in_float32_and_float16(dirs):
    model = build_network(ScaleConfig(out="unused", size="test"))
    inputs = example_inputs(model.cfg, B=2, L=20, M=2)
    with torch.no_grad():
        expected = [t.numpy() for t in model(*inputs)]
    feeds = {k: v.numpy() for k, v in zip(INPUT_NAMES, inputs)}
    for dtype, tol in (("float32", 1e-4), ("float16", 2e-2)):
        session = ort.InferenceSession(str(dirs[dtype] / "model.onnx"), providers=["CPUExecutionProvider"])
        f = dict(feeds)
        if dtype == "float16":
            f["images"], f["image_t"] = f["images"].astype(np.float16), f["image_t"].astype(np.float16)
        got = session.run(OUTPUT_NAMES, f)
        for name, want, have in zip(OUTPUT_NAMES, expected, got):
            assert have.dtype == np.dtype(dtype), name
            assert np.isfinite(have).all(), f"{dtype} {name} not finite"
            assert np.max(np.abs(want - have.astype(np.float32))) < tol, f"{dtype} {name}"
