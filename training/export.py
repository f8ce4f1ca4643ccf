"""Export a trained checkpoint (EMA weights) to ONNX + config.json (docs/model-contract.md).

    /usr/bin/python3 -m training.export --ckpt training/runs/oneflow-toy-v1/ckpt.pt --out models/oneflow-toy-v1
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from training.data import BOS, CLASS_NAMES, IMAGE, PAD, SEP, STOI, VOCAB
from training.model import ModelConfig, OneFlowNet
from training.model_io import load_model, sha256, torch_load
from training.contract import INPUT_NAMES, OUTPUT_NAMES
from training.sample import SamplerParams
from training.train import TrainConfig

OPSET = 17
CONTRACT_VERSION = 1


def example_inputs(cfg: Optional[ModelConfig] = None, B=2, L=9, M=2):
    """Tracing inputs for a network of ``cfg`` (its vocabulary size and latent shape; default: the
    toy vocabulary, 1×28×28); the special ids are the toy vocabulary's, which the version-2 tokenizers
    here share (0..3)."""
    cfg = cfg or ModelConfig(vocab_size=len(VOCAB))
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, cfg.vocab_size, (B, L), generator=g)
    tokens[:, 0] = STOI[BOS]
    tokens[:, 3] = STOI[SEP]
    tokens[:, 5] = STOI[IMAGE]
    tokens[:, 7] = STOI[IMAGE]
    tmask = torch.ones(B, L, dtype=torch.bool)
    tmask[-1, -1] = False
    images = torch.randn((B, M) + tuple(cfg.latent_shape), generator=g)
    image_t = torch.rand(B, M, generator=g)
    image_pos = torch.tensor([[5, 7]] * B)[:, :M]
    imask = torch.ones(B, M, dtype=torch.bool)
    imask[-1, -1] = False
    return tokens, tmask, images, image_t, image_pos, imask


def export_onnx(model: OneFlowNet, path: str):
    dyn = {"tokens": {0: "B", 1: "L"}, "token_mask": {0: "B", 1: "L"},
           "images": {0: "B", 1: "M"}, "image_t": {0: "B", 1: "M"}, "image_pos": {0: "B", 1: "M"},
           "image_mask": {0: "B", 1: "M"},
           "pi_logit": {0: "B", 1: "L"}, "log_lambda": {0: "B", 1: "L"}, "q_logprobs": {0: "B", 1: "L"},
           "velocity": {0: "B", 1: "M"}}
    with torch.no_grad():
        torch.onnx.export(model, example_inputs(model.cfg), path, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)


def write_config(model: OneFlowNet, out: Path, train_cfg: dict):
    mc = model.cfg
    prm = SamplerParams()
    cfg = {
        "name": out.name,
        "contract_version": CONTRACT_VERSION,
        "onnx_file": "model.onnx",
        "onnx_sha256": sha256(out / "model.onnx"),
        "opset": OPSET,
        "vocab": VOCAB,
        "special_tokens": {"pad": STOI[PAD], "bos": STOI[BOS], "sep": STOI[SEP], "image": STOI[IMAGE]},
        "never_insert": [STOI[PAD], STOI[BOS], STOI[SEP]],
        "latent_shape": [1, 28, 28],
        "latent_layout": "pixel space, row-major [C=1, H=28, W=28], values in [-1, 1] at t = 1 (pixel = (x + 1) / 2)",
        "max_tokens": mc.max_tokens,
        "max_images": prm.max_images,
        "kappa": "linear",  # κ(t) = t, κ̇ = 1, κ⁻¹(u) = u
        "guidance": "text: lambda = lc^w * lu^(1-w); Q ∝ Qc^w * Qu^(1-w) (u = prompt-free); images: v = vf + w_image (vc - vf) (f = text-free); 1 is off; pi from the conditional pass",
        "unconditional_prompt": [STOI[BOS], STOI[SEP]],
        "class_names": CLASS_NAMES,
        "sampler_defaults": dict(train_cfg.get("sampler") or TrainConfig().sampler),
        "model": mc.to_dict(),
        "training": {k: train_cfg.get(k) for k in ("seed", "steps", "batch_size", "lr", "image_loss_weight",
                                                     "cond_drop", "text_drop", "mix", "ema")},
    }
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="training/runs/oneflow-toy-v1/ckpt.pt")
    ap.add_argument("--out", default="models/oneflow-toy-v1")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    st = torch_load(a.ckpt)
    model = load_model(a.ckpt)
    export_onnx(model, str(out / "model.onnx"))
    cfg = write_config(model, out, st["config"])
    log = Path(a.ckpt).parent / "train.log"
    if log.exists():
        shutil.copy(log, out / "train.log")
    # parity on a fixed example
    from training.sample import OrtRunner, TorchRunner
    inp = {k: v.numpy() for k, v in zip(INPUT_NAMES, example_inputs(model.cfg))}
    a_ = TorchRunner(model)(inp); b_ = OrtRunner(str(out / "model.onnx"))(inp)
    err = max(float(np.max(np.abs(a_[k] - b_[k]))) for k in OUTPUT_NAMES)
    print(f"exported {out / 'model.onnx'} sha256 {cfg['onnx_sha256'][:12]} parity max|Δ| {err:.2e}")


if __name__ == "__main__":
    main()
