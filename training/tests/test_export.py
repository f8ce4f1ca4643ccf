"""ONNX export: parity with PyTorch (≤ 1e-4) over dynamic batch / length / image count, and
padding masks that really isolate the padded part (a serving worker batches generations)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import BOS, IMAGE, SEP, STOI, VOCAB
from training.export import OPSET, export_onnx
from training.model_io import load_model, sha256
from training.model import ModelConfig, OneFlowNet
from training.sample import INPUT_NAMES, OUTPUT_NAMES, ImageSlot, OrtRunner, State, TorchRunner, pack, unpack

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "oneflow-toy-v1"


def random_states(seed, n):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        toks = [STOI[BOS]] + list(rng.integers(4, len(VOCAB), size=rng.integers(1, 6))) + [STOI[SEP]]
        pl = len(toks)
        imgs = []
        for _ in range(rng.integers(0, 3)):
            toks += list(rng.integers(4, len(VOCAB), size=rng.integers(0, 3))) + [STOI[IMAGE]]
            imgs.append(ImageSlot(rng.standard_normal((1, 28, 28)).astype(np.float32), float(rng.random())))
        out.append(State([int(t) for t in toks], pl, imgs, 0.5))
    return out


@pytest.fixture(scope="module", params=[False, True], ids=["absolute-positions", "rotary-positions"])
def tiny(tmp_path_factory, request):
    torch.manual_seed(0)
    m = OneFlowNet(ModelConfig(vocab_size=len(VOCAB), d_model=32, n_layers=2, n_heads=2, d_ff=64, chans=(8, 16),
                               rope=request.param)).eval()
    for p in m.parameters():  # zero-initialised output conv would hide velocity errors
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(m, str(path))
    return m, path


def max_diff(a, b, states):
    worst = 0.0
    for oa, ob in zip(unpack(a, states), unpack(b, states)):
        for k in ("pi_logit", "log_lambda", "q_logprobs", "velocity"):
            worst = max(worst, float(np.max(np.abs(getattr(oa, k) - getattr(ob, k)), initial=0.0)))
    return worst


@pytest.mark.parametrize("seed,n", [(1, 1), (2, 3), (3, 5)])
def test_tiny_parity_dynamic_shapes(tiny, seed, n):
    m, path = tiny
    states = random_states(seed, n)
    inp = pack(states)
    assert max_diff(TorchRunner(m)(inp), OrtRunner(str(path), threads=1)(inp), states) < 1e-4


def test_padding_does_not_leak(tiny):
    _, path = tiny
    ort = OrtRunner(str(path), threads=1)
    states = random_states(7, 4)
    batched = unpack(ort(pack(states)), states)
    for s, ob in zip(states, batched):
        alone = unpack(ort(pack([s])), [s])[0]
        for k in ("pi_logit", "log_lambda", "q_logprobs", "velocity"):
            assert np.max(np.abs(getattr(alone, k) - getattr(ob, k)), initial=0.0) < 1e-4, k


def test_onnx_signature(tiny):
    import onnx
    _, path = tiny
    g = onnx.load(str(path))
    assert [i.name for i in g.graph.input] == INPUT_NAMES
    assert [o.name for o in g.graph.output] == OUTPUT_NAMES
    assert any(op.version == OPSET for op in g.opset_import if op.domain in ("", "ai.onnx"))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in g.graph.input}
    assert dims["tokens"] == ["B", "L"] and dims["images"] == ["B", "M", 1, 28, 28]


@pytest.mark.skipif(not (MODEL_DIR / "weights.pt").exists(), reason="shipped model not present")
def test_shipped_model_parity_and_hash():
    cfg = json.loads((MODEL_DIR / "config.json").read_text())
    assert sha256(MODEL_DIR / "model.onnx") == cfg["onnx_sha256"]
    m = load_model(str(MODEL_DIR / "weights.pt"))
    states = random_states(11, 3)
    inp = pack(states)
    assert max_diff(TorchRunner(m)(inp), OrtRunner(str(MODEL_DIR / "model.onnx"), threads=1)(inp), states) < 1e-4
