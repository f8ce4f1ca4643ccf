"""A OneFlow network at real model scale, with random weights, as a contract-version-2 directory:
the serving path measured at the sizes it is built for (bench/scale, bench/gpu), not trained.

    /usr/bin/python3 -m training.scale_model --size 100m --dtype float32 --out .oneflow/scale/100m-fp32
    /usr/bin/python3 -m training.scale_model --size 1b --dtype float16 --out /tmp/scale/1b-fp16

Sizes (``SIZES``): ``test`` (seconds; the tests), ``toy`` (the toy model's widths), ``100m`` and
``1b``; each on 16×32×32 latents (an SD-style autoencoder's 8× downsampled 256×256 RGB images)
through the generic latent path with 2×2 patches, so an image is 256 transformer tokens, and with
512 text positions. Writes ``<out>/``:
  tokenizer.json   the tiny v2 byte-level BPE (packages/runtime/fixtures/tiny-v2, 320 tokens)
  encoder.onnx     pixels [N, 3, 256, 256] -> latent [N, 16, 32, 32]: three stride-2 convs (random)
  decoder.onnx     latent -> pixels: three transposed convs (random); the runtime clamps to [-1, 1]
  model.onnx       the network; its weights in the ONNX external-data file model.onnx.data
  config.json      the version-2 config (``dtype`` float32, or float16: float16 weights, inputs,
                   outputs and arithmetic, see ``to_float16``), with ``scale`` = size and parameters

Nothing here is committed: directories go under /tmp or .oneflow/.
"""
from __future__ import annotations

import argparse
import inspect
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn as nn

from training.contract import INPUT_NAMES, OUTPUT_NAMES
from training.export import OPSET, example_inputs
from training.model import ModelConfig, OneFlowNet, count_params
from training.model_io import sha256, write_json
from training.sample import SamplerParams, sampler_defaults

REPO = Path(__file__).resolve().parent.parent
TOKENIZER = REPO / "packages/runtime/fixtures/tiny-v2/tokenizer.json"
VOCAB_SIZE = 320  # the tiny v2 tokenizer's size, added tokens included
IMAGE_ID = 3  # <image> in that tokenizer
EXTERNAL_DATA = "model.onnx.data"
LATENT_SHAPE = (16, 32, 32)
IMAGE_SHAPE = (3, 256, 256)


@dataclass(frozen=True)
class ScaleSize:
    """Transformer widths of one size; conv width ``chans`` of the latent path, 2×2 patches."""
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    chans: int


SIZES: Dict[str, ScaleSize] = {
    "test": ScaleSize(d_model=64, n_layers=2, n_heads=4, d_ff=256, chans=16),
    "toy": ScaleSize(d_model=128, n_layers=4, n_heads=4, d_ff=384, chans=32),
    "100m": ScaleSize(d_model=768, n_layers=14, n_heads=12, d_ff=3072, chans=128),
    "1b": ScaleSize(d_model=2048, n_layers=20, n_heads=16, d_ff=8192, chans=256),
}


@dataclass
class ScaleConfig:
    out: str
    size: str = "test"
    dtype: str = "float32"  # or float16
    seed: int = 0
    max_tokens: int = 512
    max_images: int = 4
    max_batch: int = 16
    patch: int = 2

    def model_config(self) -> ModelConfig:
        s = SIZES[self.size]
        return ModelConfig(vocab_size=VOCAB_SIZE, d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, d_ff=s.d_ff,
                           max_tokens=self.max_tokens, chans=(s.chans, s.chans), rope=True, latent_shape=LATENT_SHAPE,
                           latent_patch=self.patch)


SAMPLER_DEFAULTS = sampler_defaults(SamplerParams(steps=16, w=2.0, w_image=2.0, temperature=0.8))


def estimate_parameters(cfg: ModelConfig) -> int:
    """Parameters of ``OneFlowNet(cfg)`` on the latent path, counted from the widths (no weights made:
    the 1 B size is reported without allocating 4 GB)."""
    d, ff, v = cfg.d_model, cfg.d_ff, cfg.vocab_size
    c0 = cfg.chans[0]
    channels = cfg.latent_shape[0]
    p = cfg.latent_patch
    linear = lambda i, o: i * o + o  # noqa: E731 (weights + bias)
    film_res = 2 * (2 * c0) + 2 * (c0 * c0 * 9 + c0) + linear(128, 2 * c0)  # two GroupNorms, two 3×3 convs, FiLM
    block = 2 * (2 * d) + linear(d, 3 * d) + linear(d, d) + linear(d, ff) + linear(ff, d)
    total = v * d + cfg.max_tokens * d + cfg.image_tokens * d + d  # tok, pos, img_pos, img_type
    total += linear(64, 128) + linear(128, 128) + linear(128, d) + linear(d, d)  # t_mlp, t_tok, pool_proj
    total += channels * c0 * 9 + c0 + film_res + c0 * d * p * p + d  # latent_in, block, to_tokens
    total += cfg.n_layers * block + 2 * d  # blocks, ln_f
    total += linear(d, 1) + linear(d, 1) + linear(d, v)  # heads
    total += linear(128 + d, 128)  # cond_up
    total += d * c0 * p * p + c0 + film_res + c0 * channels * 9 + channels  # from_tokens, block, latent_out
    return total


def build_network(cfg: ScaleConfig) -> OneFlowNet:
    """Random weights, nudged as the tiny v2 model is so that a run inserts text and images."""
    torch.manual_seed(cfg.seed)
    model = OneFlowNet(cfg.model_config()).eval()
    with torch.no_grad():
        model.latent_out.weight.normal_(0, 0.02)
        model.latent_out.bias.normal_(0, 0.02)
        model.head_pi.bias.fill_(-2.0)
        model.head_lam.bias.fill_(1.5)
        model.head_q.bias[IMAGE_ID] += 3.0
    return model


class Encoder(nn.Module):
    """pixels [N, 3, 256, 256] -> latent [N, 16, 32, 32]."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.SiLU(),
                                 nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.SiLU(),
                                 nn.Conv2d(32, LATENT_SHAPE[0], 3, stride=2, padding=1))

    def forward(self, pixels):
        return self.net(pixels)


class Decoder(nn.Module):
    """latent [N, 16, 32, 32] -> pixels [N, 3, 256, 256]."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(LATENT_SHAPE[0], 32, 4, stride=2, padding=1), nn.SiLU(),
                                 nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.SiLU(),
                                 nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, latent):
        return self.net(latent)


def legacy_export_kwargs() -> dict:
    """torch ≥ 2.9 exports through dynamo by default; these graphs use the TorchScript exporter
    (dynamic_axes), which torch 1.13 (training) and newer releases (the GPU machine) both have."""
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def export_codec(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str):
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}}, opset_version=OPSET,
                          do_constant_folding=True, **legacy_export_kwargs())


def export_network(model: OneFlowNet, path: Path):
    """model.onnx with every weight in ``EXTERNAL_DATA`` beside it (the layout of models over 2 GB)."""
    import onnx
    dyn = {"tokens": {0: "B", 1: "L"}, "token_mask": {0: "B", 1: "L"}, "images": {0: "B", 1: "M"},
           "image_t": {0: "B", 1: "M"}, "image_pos": {0: "B", 1: "M"}, "image_mask": {0: "B", 1: "M"},
           "pi_logit": {0: "B", 1: "L"}, "log_lambda": {0: "B", 1: "L"}, "q_logprobs": {0: "B", 1: "L"},
           "velocity": {0: "B", 1: "M"}}
    raw = path.parent / "raw"
    raw.mkdir(exist_ok=True)
    with torch.no_grad():
        # over 2 GB the exporter itself writes one external file per tensor into raw/
        torch.onnx.export(model, example_inputs(model.cfg, B=2, L=9, M=2), str(raw / "model.onnx"),
                          input_names=INPUT_NAMES, output_names=OUTPUT_NAMES, dynamic_axes=dyn, opset_version=OPSET,
                          do_constant_folding=True, **legacy_export_kwargs())
    graph = onnx.load(str(raw / "model.onnx"))
    shutil.rmtree(raw)
    return graph


FP16_MAX = float(np.finfo(np.float16).max)


def to_float16(graph):
    """The whole graph in float16: weights, float inputs and outputs, constants (clamped to the
    float16 range, so the -1e9 of the attention mask stays finite: 0·(-inf) would be NaN) and every
    Cast to float. GPUs then run the matrix products on half-precision tensor cores; the sampler
    still integrates in float32 (the runtime converts at the boundary)."""
    from onnx import TensorProto, numpy_helper

    def half(t):
        a = np.clip(numpy_helper.to_array(t), -FP16_MAX, FP16_MAX).astype(np.float16)
        return numpy_helper.from_array(a, t.name)

    g = graph.graph
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(half(init))
    for node in g.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            if attr.t is not None and attr.t.data_type == TensorProto.FLOAT and attr.HasField("t"):
                attr.t.CopyFrom(half(attr.t))
    for value in list(g.input) + list(g.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    del g.value_info[:]
    return graph


def save_with_external_data(graph, path: Path):
    import onnx
    (path.parent / EXTERNAL_DATA).unlink(missing_ok=True)
    onnx.save(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=EXTERNAL_DATA,
              size_threshold=1024)
    onnx.checker.check_model(str(path))


def write_config(cfg: ScaleConfig, out: Path, parameters: int) -> dict:
    config = {
        "name": out.name,
        "contract_version": 2,
        "onnx_file": "model.onnx",
        "onnx_sha256": sha256(out / "model.onnx"),
        "onnx_external_data": [{"file": EXTERNAL_DATA, "sha256": sha256(out / EXTERNAL_DATA)}],
        "dtype": cfg.dtype,
        "tokenizer": {"file": "tokenizer.json", "sha256": sha256(out / "tokenizer.json")},
        "special_tokens": {"pad": "<pad>", "bos": "<bos>", "sep": "<sep>", "image": "<image>"},
        "never_insert": ["<pad>", "<bos>", "<sep>"],
        "vocab_size": VOCAB_SIZE,
        "image_shape": list(IMAGE_SHAPE),
        "latent_shape": list(LATENT_SHAPE),
        "encoder": {"file": "encoder.onnx", "sha256": sha256(out / "encoder.onnx")},
        "decoder": {"file": "decoder.onnx", "sha256": sha256(out / "decoder.onnx")},
        "max_tokens": cfg.max_tokens,
        "max_images": cfg.max_images,
        "kappa": "linear",
        "sampler_defaults": SAMPLER_DEFAULTS,
        "execution_provider": "cpu",
        "max_batch": cfg.max_batch,
        # not read by the runtime: what this directory is
        "scale": {"size": cfg.size, "parameters": parameters, "random_weights": True,
                  "model": cfg.model_config().to_dict()},
    }
    write_json(out / "config.json", config)
    return config


def make(cfg: ScaleConfig) -> Path:
    if cfg.size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {cfg.size!r}")
    if cfg.dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got {cfg.dtype!r}")
    start = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TOKENIZER, out / "tokenizer.json")
    # 1. codecs (random; the runtime needs an encoder/decoder pair for 3-channel pixels over 16-channel latents)
    torch.manual_seed(cfg.seed + 1)
    encoder, decoder = Encoder().eval(), Decoder().eval()
    pixels = torch.rand((2,) + IMAGE_SHAPE) * 2 - 1
    export_codec(encoder, pixels, out / "encoder.onnx", "pixels", "latent")
    with torch.no_grad():
        export_codec(decoder, encoder(pixels), out / "decoder.onnx", "latent", "pixels")
    # 2. network
    model = build_network(cfg)
    parameters = count_params(model)
    graph = export_network(model, out / "model.onnx")
    del model
    if cfg.dtype == "float16":
        graph = to_float16(graph)
    save_with_external_data(graph, out / "model.onnx")
    del graph
    # 3. config
    write_config(cfg, out, parameters)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{out}: {cfg.size} {cfg.dtype}, {parameters / 1e6:.1f} M parameters, {size / 1e6:.0f} MB, "
          f"{time.time() - start:.1f}s", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=list(SIZES), default="test")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--count-only", action="store_true", help="print the parameter count of --size and exit")
    a = ap.parse_args(argv)
    cfg = ScaleConfig(out=a.out, size=a.size, dtype=a.dtype, seed=a.seed, max_tokens=a.max_tokens)
    if a.count_only:
        print(estimate_parameters(cfg.model_config()))
        return
    make(cfg)


if __name__ == "__main__":
    main()
