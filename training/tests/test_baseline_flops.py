"""The FLOPs counter: hand-computed pieces, torch's profiler on whole forward passes, the training log."""
import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from training.baseline import flops as F
from training.baseline.model import ARFlowNet
from training.export import example_inputs
from training.model import ModelConfig, OneFlowNet

TINY = ModelConfig(vocab_size=120, d_model=32, n_layers=2, n_heads=2, d_ff=64, chans=(8, 16), rope=True)


def test_pieces_by_hand():
    assert F.linear(3, 4, 5) == 2 * 3 * 4 * 5
    assert F.conv(2, 4, 8, 3, 14, 14) == 2 * 2 * 4 * 8 * 9 * 196
    # a FiLMRes of 8 channels at 7×7 on 1 image: two 3×3 convs + FiLM linear 128 -> 16
    assert F.film_res(1, 8, 7, 7) == 2 * (2 * 8 * 8 * 9 * 49) + 2 * 128 * 16


def test_transformer_part_by_hand():
    # the same shapes with one more layer add exactly one layer's cost: S = L + 16·M positions
    B, L, M, K = 2, 9, 2, 3
    d, ff, S = 32, 64, 9 + 32
    one_layer = 2 * B * S * d * 3 * d + 2 * B * S * d * d + 2 * 2 * B * S * S * d + 2 * 2 * B * S * d * ff
    deeper = ModelConfig(**{**TINY.to_dict(), "n_layers": 3, "chans": (8, 16), "latent_shape": (1, 28, 28)})
    assert F.forward_flops(deeper, B, L, M, K) - F.forward_flops(TINY, B, L, M, K) == one_layer


def _profiled(model, inputs, **kw):
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        model(*inputs, **kw)
    counted = ("aten::addmm", "aten::mm", "aten::bmm", "aten::conv2d")  # matmuls and convolutions
    return sum(e.flops for e in prof.key_averages() if e.key in counted)


@pytest.mark.parametrize("net", [OneFlowNet, ARFlowNet])
def test_forward_flops_match_torchs_profiler(net):
    torch.manual_seed(0)
    model = net(TINY).eval()
    inputs = example_inputs(TINY, B=2, L=9, M=2)
    assert F.forward_flops(TINY, 2, 9, 2, 4) == _profiled(model, inputs)
    # training runs the up path on the scored images only
    assert F.forward_flops(TINY, 2, 9, 2, 1) == _profiled(model, inputs, vel_index=torch.tensor([2]))


def test_latent_path_matches_the_profiler_plus_the_transposed_conv():
    mc = ModelConfig(**{**TINY.to_dict(), "chans": (8, 16), "latent_shape": (4, 4, 4), "latent_patch": 2})
    model = OneFlowNet(mc).eval()
    inputs = example_inputs(mc, B=2, L=9, M=2)
    transposed = 2 * 4 * 32 * 8 * 2 * 2 * 2 * 2  # K=4 images, d=32 -> c0=8, p=2, a 2×2 grid (the profiler skips it)
    assert F.forward_flops(mc, 2, 9, 2, 4) == _profiled(model, inputs) + transposed


def test_training_log_records_three_times_the_forward_of_each_batch(tmp_path):
    from training.baseline.train import OBJECTIVES, main
    from training.train import TrainConfig

    cfg = {"seed": 3, "steps": 4, "batch_size": 4, "warmup": 2, "threads": 1, "log_every": 2, "ckpt_every": 2,
           "bucket_chunks": 2, "keep_steps": [2], "objective": "ar",
           "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "chans": [8, 16], "rope": True}}
    path = tmp_path / "ar.json"
    path.write_text(json.dumps(cfg))
    main(["--config", str(path), "--run-dir", str(tmp_path / "run")])
    lines = [ln.split() for ln in (tmp_path / "run" / "train.log").read_text().splitlines() if ln.startswith("step")]
    logged = [float(ln[ln.index("flops") + 1]) for ln in lines]
    tc = TrainConfig.from_json(str(path))
    stream = OBJECTIVES["ar"].stream(tc)
    expect = [F.training_step_flops(tc.model, stream.batch(s)) for s in range(4)]
    assert logged == pytest.approx([sum(expect[:2]), sum(expect)], rel=1e-6)
    kept = torch.load(tmp_path / "run" / "ckpt-2.pt")
    assert kept["step"] == 2 and kept["flops"] == pytest.approx(sum(expect[:2]), rel=1e-9)
