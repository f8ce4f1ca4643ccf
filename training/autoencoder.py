"""The image autoencoder of contract-version-2 models: pixels [N, 3, S, S] <-> latents [N, c, S/4, S/4].

    /usr/bin/python3 -m training.autoencoder --report models/oneflow-toy-v2   # AUTOENCODER.md + autoencoder.json

A small convolutional autoencoder (two stride-2 convolutions down, two transposed ones up), trained
first on pixel MSE and frozen; OneFlow then trains and samples in its latent space. The latent's
per-channel mean and std are folded into both graphs (``shift`` / ``scale`` buffers), so the latents
the sampler integrates are roughly standard normal per channel. ``training.tiny_v2`` uses the default
widths; ``training.train_v2`` wider ones with a residual-free extra conv per resolution (``blocks``).

The report (``--report``) encodes and decodes held-out images through the shipped ONNX graphs and
writes PSNR, the judge classifier's accuracy on reconstructions vs originals, and the colour judge's
accuracy on both (``training.judge_v2``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.export import OPSET


def _convs(width: int, blocks: int) -> List[nn.Module]:
    """``blocks`` × (3×3 conv, SiLU) at one resolution."""
    layers: List[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
    return layers


class Encoder(nn.Module):
    """pixels [N, 3, S, S] -> latent [N, c, S/4, S/4], standardised by a scale and shift kept inside."""

    def __init__(self, channels: int, widths: Tuple[int, int] = (16, 32), blocks: int = 0):
        super().__init__()
        w0, w1 = widths
        self.net = nn.Sequential(nn.Conv2d(3, w0, 3, stride=2, padding=1), nn.SiLU(), *_convs(w0, blocks),
                                 nn.Conv2d(w0, w1, 3, stride=2, padding=1), nn.SiLU(), *_convs(w1, blocks),
                                 nn.Conv2d(w1, channels, 1))
        self.register_buffer("shift", torch.zeros(1, channels, 1, 1))
        self.register_buffer("scale", torch.ones(1, channels, 1, 1))

    def forward(self, pixels):
        return (self.net(pixels) - self.shift) / self.scale


class Decoder(nn.Module):
    """latent [N, c, S/4, S/4] -> pixels [N, 3, S, S] (the runtime clamps to [-1, 1])."""

    def __init__(self, channels: int, widths: Tuple[int, int] = (16, 32), blocks: int = 0):
        super().__init__()
        w0, w1 = widths
        self.register_buffer("shift", torch.zeros(1, channels, 1, 1))
        self.register_buffer("scale", torch.ones(1, channels, 1, 1))
        self.net = nn.Sequential(nn.Conv2d(channels, w1, 3, padding=1), nn.SiLU(), *_convs(w1, blocks),
                                 nn.ConvTranspose2d(w1, w0, 4, stride=2, padding=1), nn.SiLU(), *_convs(w0, blocks),
                                 nn.ConvTranspose2d(w0, 3, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, latent):
        return self.net(latent * self.scale + self.shift)


def fit(encoder: Encoder, decoder: Decoder, batches: Callable[[int], torch.Tensor], steps: int, lr: float,
        log: Callable[[str], None] = lambda s: None, log_every: int = 0) -> float:
    """Adam on pixel MSE for ``steps`` steps; ``batches(step)`` gives pixels [B, 3, S, S] in [-1, 1] (cosine
    decay to 5% when ``log_every`` > 0, the longer recipes; constant otherwise). Returns the last loss."""
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=lr)
    loss = torch.zeros(())
    t0 = time.time()
    for step in range(steps):
        if log_every:
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        batch = batches(step)
        loss = F.mse_loss(decoder(encoder(batch)), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (step + 1) % log_every == 0:
            log(f"autoencoder step {step + 1}/{steps} mse {float(loss):.5f} elapsed {time.time() - t0:.0f}s")
    return float(loss)


def standardise(encoder: Encoder, decoder: Decoder, pixels: torch.Tensor):
    """Fold the latent's per-channel mean and std of ``pixels`` into both modules."""
    with torch.no_grad():
        encoder.shift.zero_()
        encoder.scale.fill_(1.0)
        latent = encoder(pixels)  # [N, c, h, w]
        shift = latent.mean(dim=(0, 2, 3), keepdim=True)
        scale = latent.std(dim=(0, 2, 3), keepdim=True)
        for module in (encoder, decoder):
            module.shift.copy_(shift)
            module.scale.copy_(scale)


def export_codec(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str):
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}}, opset_version=OPSET,
                          do_constant_folding=True)


def export_pair(encoder: Encoder, decoder: Decoder, example_pixels: torch.Tensor, out: Path):
    """``out/encoder.onnx`` (pixels -> latent) and ``out/decoder.onnx`` (latent -> pixels)."""
    export_codec(encoder, example_pixels, out / "encoder.onnx", "pixels", "latent")
    with torch.no_grad():
        export_codec(decoder, encoder(example_pixels), out / "decoder.onnx", "latent", "pixels")


# ----------------------------------------------------------------------------- report


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean PSNR in dB of images in [-1, 1] (peak-to-peak 2), over the first axis."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return float(np.mean(10 * np.log10(4.0 / np.maximum(mse, 1e-12))))


def report(model_dir: Path, n: int = 2000, seed: int = 0, threads: int = 1) -> dict:
    """Held-out images (test split, training colour×class pairs and held-out ones) through the model
    directory's encoder.onnx / decoder.onnx: PSNR, class judge and colour judge on originals vs
    reconstructions. Writes ``autoencoder.json`` and ``AUTOENCODER.md`` into ``model_dir``."""
    from training.data import load_images
    from training.judge_v2 import classify, colour_of, get_judge, test_images
    from training.sample import ort_session

    torch.set_num_threads(threads)
    cfg = json.loads((model_dir / "config.json").read_text())
    encoder = ort_session(model_dir / cfg["encoder"]["file"], threads)
    decoder = ort_session(model_dir / cfg["decoder"]["file"], threads)
    bank = load_images(seed)
    judge = get_judge(seed)
    rows = {}
    for split in ("train_pairs", "heldout_pairs"):
        pixels, classes, colours = test_images(bank, n, seed, heldout_pairs=split == "heldout_pairs")
        recon = np.concatenate([decoder.run(["pixels"], {"latent": encoder.run(["latent"], {"pixels": pixels[k:k + 256]})[0]})[0]
                                for k in range(0, len(pixels), 256)])
        recon = np.clip(recon, -1, 1)
        rows[split] = {
            "n": int(len(pixels)), "psnr_db": round(psnr(recon, pixels), 2),
            "class_accuracy_originals": float(np.mean(classify(judge, pixels) == classes)),
            "class_accuracy_reconstructions": float(np.mean(classify(judge, recon) == classes)),
            "colour_accuracy_originals": float(np.mean(colour_of(pixels) == colours)),
            "colour_accuracy_reconstructions": float(np.mean(colour_of(recon) == colours)),
        }
    out = {"model": cfg["name"], "image_shape": cfg["image_shape"], "latent_shape": cfg["latent_shape"],
           "encoder_sha256": cfg["encoder"]["sha256"], "decoder_sha256": cfg["decoder"]["sha256"],
           "seed": seed, "splits": rows, "autoencoder": cfg.get("autoencoder", {})}
    (model_dir / "autoencoder.json").write_text(json.dumps(out, indent=1) + "\n")
    write_md(model_dir, out)
    return out


def write_md(model_dir: Path, r: dict):
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = [f"# {r['model']} — autoencoder", "",
             f"Generated by `/usr/bin/python3 -m training.autoencoder --report {model_dir}` (do not edit by hand).", "",
             f"encoder.onnx: pixels {r['image_shape']} in [-1, 1] → latent {r['latent_shape']}; decoder.onnx back. "
             "Held-out (test-split) images, coloured with the training colour×class pairs or with the held-out pairs; "
             "the class judge is the evaluator's classifier, the colour judge the nearest palette colour of the "
             "object's pixels (`training.judge_v2`).", "",
             "| images | n | PSNR | class judge: originals | reconstructions | colour judge: originals | reconstructions |",
             "|---|---|---|---|---|---|---|"]
    for split, v in r["splits"].items():
        lines.append(f"| {split.replace('_', ' ')} | {v['n']} | {v['psnr_db']:.2f} dB | "
                     f"{pct(v['class_accuracy_originals'])} | {pct(v['class_accuracy_reconstructions'])} | "
                     f"{pct(v['colour_accuracy_originals'])} | {pct(v['colour_accuracy_reconstructions'])} |")
    if r.get("autoencoder"):
        lines += ["", "Training: " + ", ".join(f"{k} {v}" for k, v in r["autoencoder"].items()) + "."]
    (model_dir / "AUTOENCODER.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", required=True, help="a contract-version-2 model directory")
    ap.add_argument("--n", type=int, default=2000, help="held-out images per split")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    out = report(Path(a.report), a.n, threads=a.threads)
    print(json.dumps(out["splits"], indent=1))


if __name__ == "__main__":
    main()
