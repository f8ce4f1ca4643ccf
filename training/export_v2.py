"""Export a version-2 training run to a contract-version-2 model directory (docs/model-contract.md).

    /usr/bin/python3 -m training.export_v2 --run training/runs/oneflow-toy-v2-cpu --out models/oneflow-toy-v2

Writes model.onnx (the EMA weights), encoder.onnx / decoder.onnx (the frozen autoencoder),
tokenizer.json, config.json (every file hash-checked; ``training.contract.check_model_dir`` passes),
train.log, weights.pt (EMA weights + configs, for screening with PyTorch) and golden.json (golden
vectors in the version-2 fixture format, ``training.golden.write_fixture_golden_v2``); checks ONNX
against PyTorch on a fixed batch.
"""
from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np
import torch

from training.contract import INPUT_NAMES, OUTPUT_NAMES, check_model_dir
from training.data import load_images
from training.export import example_inputs, export_onnx
from training.golden import write_fixture_golden_v2
from training.judge_v2 import test_images
from training.model_io import load_model, torch_load
from training.sample import OrtRunner, TorchRunner
from training.tiny_v2 import directory_size, write_config_v2
from training.train_v2 import load_prepared
from training.world_v2 import BACKGROUNDS, CANONICAL, COLOURS, HELDOUT_PAIRS, IMAGE_SHAPE, TEMPLATES

MAX_IMAGES = 6
MAX_BATCH = 32


@dataclass
class Shapes:
    """What ``tiny_v2.write_config_v2`` reads of a model's shapes and caps."""
    image_shape: Tuple[int, int, int]
    latent_shape: Tuple[int, int, int]
    max_tokens: int
    max_images: int = MAX_IMAGES
    max_batch: int = MAX_BATCH


def export(run: Path, out: Path, golden: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ckpt = run / "ckpt.pt"
    state = torch_load(ckpt)
    train_cfg = state["config"]
    model = load_model(str(ckpt))
    tokenizer, encoder, decoder, world, record = load_prepared(run)
    # 1. the network, the codec, the tokenizer
    export_onnx(model, str(out / "model.onnx"))
    from training.autoencoder import export_pair
    bank = load_images(train_cfg["seed"])
    pixels, _, _ = test_images(bank, 4, seed=1)
    export_pair(encoder, decoder, torch.from_numpy(pixels[:2]), out)
    tokenizer.save(str(out / "tokenizer.json"))
    log = run / "train.log"
    if log.exists():
        shutil.copy(log, out / "train.log")
    torch.save({"ema": state["ema"], "config": train_cfg, "step": state["step"]}, out / "weights.pt")
    # 2. config.json
    mc = model.cfg
    extra = {
        "opset": 17,
        "latent_layout": f"autoencoder latent, row-major {list(mc.latent_shape)}, roughly standard normal per channel "
                         "at t = 1; pixels [3, 32, 32] in [-1, 1] (pixel = (x + 1) / 2) through decoder.onnx",
        "guidance": "text: lambda = lc^w * lu^(1-w); Q ∝ Qc^w * Qu^(1-w) (u = prompt-free); images: v = vf + w_image "
                    "(vc - vf) (f = text-free); 1 is off; pi from the conditional pass",
        "class_names": CANONICAL, "colours": COLOURS, "backgrounds": BACKGROUNDS,
        "heldout": {"pairs": [{"colour": COLOURS[c], "class": CANONICAL[k]} for c, k in sorted(HELDOUT_PAIRS)],
                    "phrasings": {task: [t for t, h in ts if h] for task, ts in TEMPLATES.items()}},
        "model": mc.to_dict(),
        "autoencoder": {**record, "channels": world.ae_channels},
        "tokenizer_training": {"documents": world.tokenizer_texts, "vocab_size_asked": world.vocab_size,
                               "lowercase": world.lowercase},
        "training": {k: train_cfg.get(k) for k in ("seed", "steps", "batch_size", "lr", "image_loss_weight",
                                                     "cond_drop", "text_drop", "mix", "ema")},
    }
    shapes = Shapes(IMAGE_SHAPE, tuple(mc.latent_shape), mc.max_tokens)
    cfg = write_config_v2(shapes, out, "float32", tokenizer.get_vocab_size(with_added_tokens=True),
                          sampler=dict(train_cfg["sampler"]), extra=extra)
    check_model_dir(out)
    # 3. ONNX against PyTorch on a fixed batch
    inp = {k: v.numpy() for k, v in zip(INPUT_NAMES, example_inputs(mc))}
    a, b = TorchRunner(model)(inp), OrtRunner(str(out / "model.onnx"))(inp)
    err = max(float(np.max(np.abs(a[k] - b[k]))) for k in OUTPUT_NAMES)
    print(f"exported {out / 'model.onnx'} sha256 {cfg['onnx_sha256'][:12]} parity max|Δ| {err:.2e}")
    if golden:
        write_fixture_golden_v2(out, test_images(bank, 4, seed=2)[0])
    print(f"{out}: {directory_size(out) / 1e6:.2f} MB")
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="training/runs/oneflow-toy-v2-cpu", help="a training.train_v2 run directory")
    ap.add_argument("--out", default="models/oneflow-toy-v2")
    ap.add_argument("--no-golden", action="store_true", help="skip golden.json (fast, for screening)")
    a = ap.parse_args(argv)
    export(Path(a.run), Path(a.out), golden=not a.no_golden)


if __name__ == "__main__":
    main()
