"""Write the tiny contract-version-2 test model (docs/model-contract.md, "Contract version 2") in seconds.

    /usr/bin/python3 -m training.tiny_v2 --out packages/runtime/fixtures/tiny-v2

Seeded and deterministic. Writes ``<out>/`` and its float16 twin ``<out>-fp16/``, each with:
  tokenizer.json   byte-level BPE trained on the toy world's document text; <pad> <bos> <sep> <image> = 0..3
  encoder.onnx     pixels [N, 3, 16, 16] in [-1, 1] -> latent [N, 4, 4, 4] (a small conv autoencoder,
  decoder.onnx     latent -> pixels; trained for a few hundred steps on tinted, downsampled images)
  model.onnx       the OneFlow network on latents 4×4×4 with the tokenizer's vocabulary (random weights,
                   small widths); the fp16 twin feeds images / image_t and returns its outputs as float16
  config.json      the version-2 config, every file hash-checked
  golden.json      golden vectors for the TypeScript sampler and runtime (training/golden.py)
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from training.autoencoder import Decoder, Encoder, export_pair, fit, standardise
from training.contract import FLOAT_INPUTS, OUTPUT_NAMES
from training.data import SPECIALS, DocSampler, Img, load_images
from training.export import export_onnx
from training.golden import write_fixture_golden_v2
from training.model import ModelConfig, OneFlowNet
from training.model_io import sha256, write_json
from training.sample import SamplerParams, sampler_defaults
from training.train import TrainConfig

# RGB tints of the grey images (a colour is part of what an image shows)
TINTS = np.array([[1.0, 0.25, 0.2], [0.25, 0.9, 0.3], [0.3, 0.45, 1.0], [1.0, 0.85, 0.2],
                  [0.2, 0.9, 0.9], [0.95, 0.3, 0.9], [1.0, 0.55, 0.1], [1.0, 1.0, 1.0]], np.float32)


@dataclass
class TinyV2Config:
    out: str = "packages/runtime/fixtures/tiny-v2"
    seed: int = 0
    vocab_size: int = 320  # tokenizer size, special tokens included (256 bytes + 4 specials + 60 merges)
    n_texts: int = 3000  # documents whose text trains the tokenizer
    image_size: int = 16  # pixels [3, image_size, image_size]
    latent_channels: int = 4  # latent [latent_channels, image_size / 4, image_size / 4]
    codec_images: int = 2048
    codec_steps: int = 500
    codec_batch: int = 64
    codec_lr: float = 3e-3
    d_model: int = 32
    n_layers: int = 1
    n_heads: int = 2
    d_ff: int = 64
    chans: Tuple[int, int] = (8, 8)
    max_tokens: int = 48
    max_images: int = 4
    max_batch: int = 16
    threads: int = 1

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def latent_shape(self) -> Tuple[int, int, int]:
        return (self.latent_channels, self.image_size // 4, self.image_size // 4)


SAMPLER_DEFAULTS = sampler_defaults(SamplerParams(steps=8, w=2.0, w_image=2.0, temperature=0.8))


# ----------------------------------------------------------------------------- tokenizer


def training_texts(cfg: TinyV2Config, docs: DocSampler) -> List[str]:
    """The words of ``n_texts`` training documents (prompt and target), ``<image>`` where an image goes."""
    rng = np.random.default_rng(cfg.seed)
    mix = TrainConfig().mix
    texts = []
    for _ in range(cfg.n_texts):
        prompt, target, _ = docs.sample(rng, mix)
        texts.append(" ".join("<image>" if isinstance(it, Img) else it for it in list(prompt) + list(target)))
    return texts


def train_tokenizer(texts: List[str], vocab_size: int, lowercase: bool = False):
    """Byte-level BPE (NFKC-normalised, then lower-cased with ``lowercase``) with the special tokens
    first, ids 0..3."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]) if lowercase \
        else normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


# ----------------------------------------------------------------------------- images and codec


def tinted_images(cfg: TinyV2Config, docs: DocSampler, rng: np.random.Generator) -> np.ndarray:
    """Random train-split images, area-downsampled to image_size and tinted: float32 [N, 3, S, S] in [-1, 1]."""
    idx = rng.integers(len(docs.x), size=cfg.codec_images)
    grey = torch.from_numpy(docs.x[idx].astype(np.float32) / 255.0)[:, None]  # [N, 1, 28, 28] in [0, 1]
    grey = F.adaptive_avg_pool2d(grey, cfg.image_size).numpy()  # [N, 1, S, S]
    tint = TINTS[rng.integers(len(TINTS), size=cfg.codec_images)][:, :, None, None]  # [N, 3, 1, 1]
    return (2.0 * grey * tint - 1.0).astype(np.float32)


def train_codec(cfg: TinyV2Config, pixels: np.ndarray) -> Tuple[Encoder, Decoder, float]:
    """A few hundred Adam steps of pixel MSE; then the latent's per-channel mean and std go into
    both graphs so the latents the sampler integrates are roughly standard. Returns the final loss."""
    torch.manual_seed(cfg.seed)
    encoder, decoder = Encoder(cfg.latent_channels), Decoder(cfg.latent_channels)
    data = torch.from_numpy(pixels)
    order = torch.Generator().manual_seed(cfg.seed)
    loss = fit(encoder, decoder, lambda step: data[torch.randint(len(data), (cfg.codec_batch,), generator=order)],
               cfg.codec_steps, cfg.codec_lr)
    standardise(encoder, decoder, data)
    return encoder.eval(), decoder.eval(), loss


# ----------------------------------------------------------------------------- network


def word_ids(tokenizer) -> List[int]:
    """Ids of the tokens that are a space and a whole lower-case word (byte-level BPE writes the space as Ġ)."""
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    return sorted(i for token, i in vocab.items()
                  if token.startswith("Ġ") and len(token) > 2 and token[1:].isalpha() and token[1:].islower())


def build_network(cfg: TinyV2Config, vocab_size: int, image_id: int, favoured: List[int]) -> OneFlowNet:
    """Random small OneFlowNet on the latent shape, nudged so that a run inserts images and ``favoured``
    tokens (whole words rather than stray bytes, so generated text decodes to readable words)."""
    torch.manual_seed(cfg.seed)
    model_cfg = ModelConfig(vocab_size=vocab_size, d_model=cfg.d_model, n_layers=cfg.n_layers, n_heads=cfg.n_heads,
                            d_ff=cfg.d_ff, max_tokens=cfg.max_tokens, chans=cfg.chans, rope=True,
                            latent_shape=cfg.latent_shape, latent_patch=1)
    model = OneFlowNet(model_cfg).eval()
    with torch.no_grad():  # the output conv starts at zero; give the velocity some signal
        model.latent_out.weight.normal_(0, 0.05)
        model.latent_out.bias.normal_(0, 0.05)
        model.head_pi.bias.fill_(-2.0)  # insert often, images included
        model.head_lam.bias.fill_(1.5)
        model.head_q.bias[image_id] += 5.0
        model.head_q.bias[favoured] += 4.0
    return model


EXTERNAL_DATA = "model.onnx.data"


def to_float16_interface(src: Path, dst: Path):
    """A copy of model.onnx whose float inputs (images, image_t) and outputs are float16 and whose
    float weights are stored as float16; inside, Casts to float32 keep the computation in float32.
    The weights go to an ONNX external-data file beside it (``EXTERNAL_DATA``), the layout of
    models over 2 GB, so the fixture exercises that path too."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(str(src))
    graph = model.graph
    casts_in = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + ".fp16")
        casts_in.append((init, half))
    renames = {}
    for init, half in casts_in:
        renames[init.name] = half.name
    keep = [init for init in graph.initializer if init.name not in renames]
    del graph.initializer[:]
    graph.initializer.extend(keep + [half for _, half in casts_in])
    nodes_in = [helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT) for init, half in casts_in]
    for value in graph.input:
        if value.name in FLOAT_INPUTS:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    inner = {name: name + ".f32" for name in FLOAT_INPUTS}
    outer = {name: name + ".f32" for name in OUTPUT_NAMES}
    for node in graph.node:
        node.input[:] = [inner.get(name, outer.get(name, name)) for name in node.input]
        node.output[:] = [outer.get(name, name) for name in node.output]
    nodes_in += [helper.make_node("Cast", [name], [inner[name]], to=TensorProto.FLOAT) for name in FLOAT_INPUTS]
    nodes_out = [helper.make_node("Cast", [outer[name]], [name], to=TensorProto.FLOAT16) for name in OUTPUT_NAMES]
    for value in graph.output:
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    body = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes_in + body + nodes_out)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    (dst.parent / EXTERNAL_DATA).unlink(missing_ok=True)
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True, location=EXTERNAL_DATA,
              size_threshold=0)


# ----------------------------------------------------------------------------- config


def write_config_v2(cfg: TinyV2Config, out: Path, dtype: str, vocab_size: int, sampler: Optional[dict] = None,
                    extra: Optional[dict] = None) -> dict:
    """``out/config.json``; ``cfg`` gives image_shape, latent_shape, max_tokens, max_images and max_batch
    (training.export_v2 passes its own), ``sampler`` the sampler_defaults (default: the fixtures'),
    ``extra`` further fields (a trained model's hyper-parameters)."""
    config = {
        "name": out.name,
        "contract_version": 2,
        "onnx_file": "model.onnx",
        "onnx_sha256": sha256(out / "model.onnx"),
        **({"onnx_external_data": [{"file": EXTERNAL_DATA, "sha256": sha256(out / EXTERNAL_DATA)}]}
           if (out / EXTERNAL_DATA).exists() else {}),
        "dtype": dtype,
        "tokenizer": {"file": "tokenizer.json", "sha256": sha256(out / "tokenizer.json")},
        "special_tokens": {"pad": "<pad>", "bos": "<bos>", "sep": "<sep>", "image": "<image>"},
        "never_insert": ["<pad>", "<bos>", "<sep>"],
        "vocab_size": vocab_size,
        "image_shape": list(cfg.image_shape),
        "latent_shape": list(cfg.latent_shape),
        "encoder": {"file": "encoder.onnx", "sha256": sha256(out / "encoder.onnx")},
        "decoder": {"file": "decoder.onnx", "sha256": sha256(out / "decoder.onnx")},
        "max_tokens": cfg.max_tokens,
        "max_images": cfg.max_images,
        "kappa": "linear",
        "sampler_defaults": SAMPLER_DEFAULTS if sampler is None else sampler,
        "execution_provider": "cpu",
        "max_batch": cfg.max_batch,
        **(extra or {}),
    }
    write_json(out / "config.json", config)
    return config


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def make(cfg: TinyV2Config) -> Tuple[Path, Path]:
    """Writes ``cfg.out`` and ``cfg.out + '-fp16'``; returns both paths."""
    torch.set_num_threads(cfg.threads)
    start = time.time()
    out = Path(cfg.out)
    out_half = Path(cfg.out + "-fp16")
    for path in (out, out_half):
        path.mkdir(parents=True, exist_ok=True)
    bank = load_images(cfg.seed)
    docs = DocSampler(bank, "train")

    # 1. tokenizer
    tokenizer = train_tokenizer(training_texts(cfg, docs), cfg.vocab_size)
    tokenizer.save(str(out / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    print(f"tokenizer: {vocab_size} tokens ({time.time() - start:.1f}s)", flush=True)

    # 2. images and codec
    rng = np.random.default_rng(cfg.seed)
    pixels = tinted_images(cfg, docs, rng)
    encoder, decoder, loss = train_codec(cfg, pixels)
    example = torch.from_numpy(pixels[:2])
    export_pair(encoder, decoder, example, out)
    print(f"codec: {cfg.codec_steps} steps, pixel MSE {loss:.4f} ({time.time() - start:.1f}s)", flush=True)

    # 3. network, float32 and its float16 twin
    model = build_network(cfg, vocab_size, tokenizer.token_to_id("<image>"), word_ids(tokenizer))
    export_onnx(model, str(out / "model.onnx"))
    to_float16_interface(out / "model.onnx", out_half / "model.onnx")
    for name in ("tokenizer.json", "encoder.onnx", "decoder.onnx"):
        shutil.copyfile(out / name, out_half / name)
    print(f"network: {sum(p.numel() for p in model.parameters())} parameters ({time.time() - start:.1f}s)", flush=True)

    # 4. config and golden vectors
    test_pixels = tinted_images(TinyV2Config(**{**cfg.__dict__, "codec_images": 4}), DocSampler(bank, "test"),
                                np.random.default_rng(cfg.seed + 1))
    for path, dtype in ((out, "float32"), (out_half, "float16")):
        write_config_v2(cfg, path, dtype, vocab_size)
        write_fixture_golden_v2(path, test_pixels)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e3:.0f} kB" for p in sorted(path.iterdir()))
        print(f"{path}: {directory_size(path) / 1e6:.2f} MB ({sizes})", flush=True)
    print(f"both: {(directory_size(out) + directory_size(out_half)) / 1e6:.2f} MB in {time.time() - start:.1f}s")
    return out, out_half


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TinyV2Config()
    ap.add_argument("--out", default=defaults.out, help="the float32 fixture; the float16 one goes to <out>-fp16")
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--codec-steps", type=int, default=defaults.codec_steps)
    # widths: the committed fixtures use the defaults; larger ones make a v2 model of another size
    # (e.g. the toy model's, for benchmarks), not committed
    ap.add_argument("--d-model", type=int, default=defaults.d_model)
    ap.add_argument("--layers", type=int, default=defaults.n_layers)
    ap.add_argument("--heads", type=int, default=defaults.n_heads)
    ap.add_argument("--d-ff", type=int, default=defaults.d_ff)
    a = ap.parse_args(argv)
    make(TinyV2Config(out=a.out, seed=a.seed, codec_steps=a.codec_steps, d_model=a.d_model, n_layers=a.layers,
                      n_heads=a.heads, d_ff=a.d_ff))


if __name__ == "__main__":
    main()
