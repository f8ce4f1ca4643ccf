"""The network's image path for any latent shape [C, H, W]; the 1×28×28 path exactly as before."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.contract import ModelSpec
from training.export import export_onnx
from training.model import ModelConfig, OneFlowNet
from training.model_io import load_model
from training.sample import ImageSlot, OrtRunner, State, TorchRunner, pack, unpack

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "oneflow-toy-v1"
V = 40


def latent_net(latent_shape, patch=1, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=V, d_model=32, n_layers=1, n_heads=2, d_ff=64, chans=(8, 8), rope=True,
                      latent_shape=latent_shape, latent_patch=patch)
    model = OneFlowNet(cfg).eval()
    for p in model.parameters():  # the zero output conv would hide velocity errors
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    return model


def spec_of(latent_shape):
    return ModelSpec(V, 0, 1, 2, 3, (0, 1, 2), tuple(latent_shape))


def states(latent_shape, seed=0):
    rng = np.random.default_rng(seed)
    spec = spec_of(latent_shape)
    slot = lambda t: ImageSlot(rng.standard_normal(latent_shape).astype(np.float32), t)  # noqa: E731
    return [State([1, 5, 6, 2, 7, 3, 8, 3], 4, [slot(0.2), slot(0.7)], 0.5, False, spec),
            State([1, 3, 9, 2, 10], 4, [slot(1.0)], 0.5, False, spec)]


@pytest.mark.parametrize("latent_shape,patch,tokens", [((4, 4, 4), 1, 16), ((4, 7, 7), 1, 49), ((4, 8, 8), 2, 16)])
def test_latent_path_shapes(latent_shape, patch, tokens):
    model = latent_net(latent_shape, patch)
    assert model.cfg.image_tokens == tokens and not model.cfg.pixel_path
    inp = pack(states(latent_shape))
    assert inp["images"].shape == (2, 2) + latent_shape
    with torch.no_grad():
        out = model(*[torch.from_numpy(inp[k]) for k in ("tokens", "token_mask", "images", "image_t", "image_pos",
                                                         "image_mask")])
        assert tuple(out[2].shape) == (2, 8, V)
        assert tuple(out[3].shape) == (2, 2) + latent_shape
        scored = model(*[torch.from_numpy(inp[k]) for k in ("tokens", "token_mask", "images", "image_t",
                                                            "image_pos", "image_mask")],
                       vel_index=torch.tensor([0, 1]))[3]
    assert tuple(scored.shape) == (2,) + latent_shape
    assert torch.allclose(scored, out[3].reshape((4,) + latent_shape)[:2], atol=1e-5)


def test_latent_patch_must_divide_the_grid():
    with pytest.raises(ValueError, match="latent_patch 2"):
        latent_net((4, 7, 7), patch=2)


def test_latent_export_parity_and_padding(tmp_path):
    model = latent_net((4, 7, 7))
    path = tmp_path / "latent.onnx"
    export_onnx(model, str(path))
    batch = states((4, 7, 7))
    inp = pack(batch)
    ort = OrtRunner(str(path), threads=1)
    for a, b in zip(unpack(TorchRunner(model)(inp), batch), unpack(ort(inp), batch)):
        for k in ("pi_logit", "log_lambda", "q_logprobs", "velocity"):
            assert np.max(np.abs(getattr(a, k) - getattr(b, k))) < 1e-4, k
    alone = unpack(ort(pack(batch[1:])), batch[1:])[0]  # the padded row equals the row alone
    padded = unpack(ort(inp), batch)[1]
    assert np.max(np.abs(alone.velocity - padded.velocity)) < 1e-4


def test_pixel_path_keeps_its_modules():
    """The 1×28×28 network has the modules it had before the latent path existed (so shipped
    checkpoints load; the byte-identical export below checks the seeded values too)."""
    torch.manual_seed(0)
    model = OneFlowNet(ModelConfig(vocab_size=95, d_model=32, n_layers=1, n_heads=2, d_ff=64, chans=(8, 16)))
    modules = sorted({name.split(".")[0] for name, _ in model.named_parameters()})
    assert modules == ["blocks", "cond_up", "d0", "d1", "down0", "down1", "head_lam", "head_pi", "head_q", "img_pos",
                       "img_type", "inc", "ln_f", "outc", "pool_proj", "pos", "t_mlp", "t_tok", "tok", "u0", "u1",
                       "up0", "up1"]
    assert len(list(model.parameters())) == 86 and model.img_pos.shape == (16, 32)
    assert model.cfg.pixel_path and model.cfg.image_tokens == 16


def test_tiny_v1_fixture_exports_the_same_bytes(tmp_path):
    """The sampler's tiny-model fixture, regenerated, is byte-identical ONNX (same hash as committed)."""
    from training.golden import make_tiny_golden
    committed = json.loads((REPO / "packages" / "sampler" / "fixtures" / "golden-tiny.json").read_text())
    make_tiny_golden(tmp_path)
    fresh = json.loads((tmp_path / "golden-tiny.json").read_text())
    assert fresh["model"] == committed["model"]  # includes onnx_sha256
    assert fresh["steps"] == committed["steps"]  # synthetic outputs: exact
    assert fresh["run"]["params"] == committed["run"]["params"]


@pytest.mark.skipif(not (MODEL_DIR / "weights.pt").exists(), reason="shipped model not present")
def test_shipped_weights_export_like_the_shipped_onnx(tmp_path):
    model = load_model(str(MODEL_DIR / "weights.pt"))
    assert model.cfg.latent_shape == (1, 28, 28) and model.cfg.pixel_path
    path = tmp_path / "v1.onnx"
    export_onnx(model, str(path))
    fw = json.loads((MODEL_DIR / "golden" / "forward.json").read_text())
    types = {"bool": bool, "int64": np.int64, "float32": np.float32}
    inp = {k: np.asarray(t["data"], types[t["dtype"]]).reshape(t["shape"]) for k, t in fw["inputs"].items()}
    fresh, shipped = OrtRunner(str(path), threads=1)(inp), OrtRunner(str(MODEL_DIR / "model.onnx"), threads=1)(inp)
    for k in fresh:
        assert np.max(np.abs(fresh[k] - shipped[k])) < 1e-5, k
