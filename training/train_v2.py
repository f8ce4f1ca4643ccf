"""Train oneflow-toy-v2 (docs/algorithm.md §3) in the latent space of a frozen autoencoder.

    /usr/bin/python3 -m training.train_v2 --config training/configs/oneflow-toy-v2-cpu.json

Three stages, each kept in the run directory and skipped when already there (``--fresh`` redoes all):
  1. ``tokenizer.json``: byte-level BPE trained with PyPI ``tokenizers`` on the text of training
     documents of ``training.world_v2`` (the held-out phrasings are never among them);
  2. ``autoencoder.pt``: the conv autoencoder (``training.autoencoder``) trained on training-split
     images in the training colour×class pairs, then frozen;
  3. ``ckpt.pt``: OneFlowNet on the autoencoder's latents (patch path), trained by ``training.train``'s
     loop (seeded, resumable, ``train.log``); documents are tokenized with stage 1's tokenizer and
     their images encoded with stage 2's encoder as the batches are made.
The config is a ``training.train`` config plus a ``world`` section (``WorldV2Config``).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from training.autoencoder import Decoder, Encoder, fit, standardise
from training.contract import ModelSpec
from training.data import SPECIALS, Img, load_images
from training.model_io import torch_load
from training.tiny_v2 import train_tokenizer
from training.train import Noised, Objective, Stream, TrainConfig, fill_images, train, train_batch_inputs
from training.world_v2 import (BACKGROUND_RGB, BLACK, COLOURS, HELDOUT_PAIRS, IMAGE_SHAPE, TASKS_V2, DocSamplerV2,
                               colourise, doc_ids, training_texts)


@dataclass
class WorldV2Config:
    """The version-2 parts of a run: tokenizer and autoencoder (stages 1 and 2)."""
    tokenizer_texts: int = 20000  # training documents whose text trains the tokenizer
    vocab_size: int = 1024  # BPE vocabulary, special tokens included (training stops earlier if the text runs out)
    lowercase: bool = True  # the tokenizer lower-cases (after NFKC): casing never changes the tokens
    ae_channels: int = 4  # latent [ae_channels, 8, 8] of 3×32×32 pixels
    ae_widths: Tuple[int, int] = (32, 64)
    ae_blocks: int = 1  # extra 3×3 convs per resolution
    ae_steps: int = 3000
    ae_batch: int = 64
    ae_lr: float = 2e-3
    ae_background: float = 0.35  # share of autoencoder training images on a background other than black

    @property
    def latent_shape(self) -> Tuple[int, int, int]:
        return (self.ae_channels, IMAGE_SHAPE[1] // 4, IMAGE_SHAPE[2] // 4)

    def to_dict(self):
        d = asdict(self)
        d["ae_widths"] = list(self.ae_widths)
        return d

    @staticmethod
    def from_dict(d: dict) -> "WorldV2Config":
        known = {f.name for f in fields(WorldV2Config)}
        bad = set(d) - known
        if bad:
            raise ValueError(f"unknown world keys {sorted(bad)}")
        w = WorldV2Config(**d)
        w.ae_widths = tuple(w.ae_widths)
        return w


def load_config(path: Optional[str], **over) -> Tuple[TrainConfig, WorldV2Config]:
    """A version-2 config file: ``training.train`` keys plus ``world``; ``over`` replaces top-level keys."""
    raw = json.loads(Path(path).read_text()) if path else {}
    world = WorldV2Config.from_dict(raw.pop("world", {}))
    raw.update({k: v for k, v in over.items() if v is not None})
    cfg = TrainConfig.from_json(None, **raw)
    if len(cfg.mix) != len(TASKS_V2):
        raise ValueError(f"mix needs {len(TASKS_V2)} weights ({', '.join(TASKS_V2)}), got {len(cfg.mix)}")
    cfg.model.latent_shape = world.latent_shape
    return cfg, world


# ----------------------------------------------------------------------------- stages 1 and 2


def spec_of(tokenizer, latent_shape) -> ModelSpec:
    pad, bos, sep, image = (tokenizer.token_to_id(t) for t in SPECIALS)
    return ModelSpec(tokenizer.get_vocab_size(with_added_tokens=True), pad, bos, sep, image, (pad, bos, sep),
                     tuple(latent_shape))


def autoencoder_batch(bank, rng: np.random.Generator, n: int, background: float) -> np.ndarray:
    """``n`` training-split images in training colour×class pairs: float32 [n, 3, 32, 32]."""
    idx = rng.integers(len(bank.train_y), size=n)
    out = []
    for i in idx:
        cls = int(bank.train_y[i])
        allowed = [c for c in range(len(COLOURS)) if (c, cls) not in HELDOUT_PAIRS]
        colour = allowed[int(rng.integers(len(allowed)))]
        bg = int(rng.integers(1, len(BACKGROUND_RGB))) if rng.random() < background else BLACK
        out.append(colourise(bank.train_x[i], colour, bg))
    return np.stack(out)


def train_autoencoder(cfg: TrainConfig, world: WorldV2Config, log=print) -> Tuple[Encoder, Decoder, dict]:
    """Stage 2: seeded; returns the frozen (eval-mode, standardised) pair and what to record."""
    bank = load_images(cfg.seed)
    torch.manual_seed(cfg.seed)
    encoder = Encoder(world.ae_channels, world.ae_widths, world.ae_blocks)
    decoder = Decoder(world.ae_channels, world.ae_widths, world.ae_blocks)
    t0 = time.time()

    def batches(step: int) -> torch.Tensor:
        rng = np.random.default_rng([cfg.seed, 41, step])
        return torch.from_numpy(autoencoder_batch(bank, rng, world.ae_batch, world.ae_background))
    loss = fit(encoder, decoder, batches, world.ae_steps, world.ae_lr, log, log_every=250)
    standardise(encoder, decoder, torch.from_numpy(autoencoder_batch(bank, np.random.default_rng([cfg.seed, 42]),
                                                                     2048, world.ae_background)))
    record = {"steps": world.ae_steps, "batch": world.ae_batch, "lr": world.ae_lr, "widths": list(world.ae_widths),
              "blocks": world.ae_blocks, "final_mse": round(loss, 5), "seconds": round(time.time() - t0, 1),
              "params": sum(p.numel() for p in list(encoder.parameters()) + list(decoder.parameters()))}
    return encoder.eval(), decoder.eval(), record


def prepare(cfg: TrainConfig, world: WorldV2Config, fresh: bool = False, log=print):
    """Stages 1 and 2 into ``cfg.run_dir`` (skipped when present unless ``fresh``); -> (tokenizer, encoder)."""
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "world_v2.json").write_text(json.dumps(world.to_dict(), indent=2))
    torch.set_num_threads(cfg.threads)
    if fresh or not (run / "tokenizer.json").exists():
        t0 = time.time()
        texts = training_texts(world.tokenizer_texts, cfg.seed, load_images(cfg.seed))
        tokenizer = train_tokenizer(texts, world.vocab_size, world.lowercase)
        tokenizer.save(str(run / "tokenizer.json"))
        log(f"tokenizer: {tokenizer.get_vocab_size(with_added_tokens=True)} tokens from {len(texts)} documents "
            f"({time.time() - t0:.0f}s)")
    if fresh or not (run / "autoencoder.pt").exists():
        encoder, decoder, record = train_autoencoder(cfg, world, log)
        torch.save({"encoder": encoder.state_dict(), "decoder": decoder.state_dict(), "world": world.to_dict(),
                    "record": record}, run / "autoencoder.pt")
        log(f"autoencoder: {record}")
    return load_prepared(run)


def load_prepared(run_dir) -> tuple:
    """(tokenizer, encoder, decoder, world, autoencoder record) of a run directory's stages 1 and 2."""
    from training.contract import load_tokenizer
    run = Path(run_dir)
    state = torch_load(run / "autoencoder.pt")
    world = WorldV2Config.from_dict(state["world"])
    encoder = Encoder(world.ae_channels, world.ae_widths, world.ae_blocks)
    decoder = Decoder(world.ae_channels, world.ae_widths, world.ae_blocks)
    encoder.load_state_dict(state["encoder"])
    decoder.load_state_dict(state["decoder"])
    return load_tokenizer(run / "tokenizer.json"), encoder.eval(), decoder.eval(), world, state["record"]


# ----------------------------------------------------------------------------- stage 3: noising and batches


def noise_ids(ids: Sequence[int], imgs: Sequence[Optional[Img]], plen: int, image_id: int, rng: np.random.Generator,
              tau: Optional[float] = None, text_weight: float = 1.0) -> Noised:
    """docs/algorithm.md §3 steps 1–3 with linear κ on token ids (``training.train.noise_document`` on the
    toy vocabulary's words; the same draws in the same order): ``imgs[k]`` is the Img of an image id."""
    tau = float(rng.uniform(0.0, 2.0)) if tau is None else tau  # 1. τ ~ U[0,2], t_text = min(1, τ)
    t_text = min(1.0, tau)
    tokens = list(ids[:plen])
    images = [(p, im.pixels, 1.0, np.zeros_like(im.pixels), False)
              for p, im in enumerate(imgs[:plen]) if im is not None]  # prompt images: clean
    bags: List[Tuple[int, int]] = []
    for tok, im in zip(ids[plen:], imgs[plen:]):
        if im is None:  # 2. keep each target text token with probability κ(t_text)
            if rng.random() < t_text:
                tokens.append(tok)
            else:
                bags.append((len(tokens) - 1, tok))
        else:  # 3. image birth: τ_img = τ − κ⁻¹(u); unborn -> <image> in the bag of its gap
            t_img = tau - rng.random()
            eps = rng.standard_normal(im.pixels.shape).astype(np.float32)
            if t_img < 0:
                bags.append((len(tokens) - 1, image_id))
            else:
                t_img = min(1.0, t_img)
                tokens.append(tok)
                images.append((len(tokens) - 1, im.pixels, t_img, eps, t_img < 1.0))
    return Noised(tokens, plen, bags, images, t_text, text_weight)


def collate_v2(examples: Sequence[Noised], latent_shape: Tuple[int, int, int], pad: int):
    """``training.train.collate`` for any latent shape: images / img_target [B, M, C, H, W]."""
    B = len(examples)
    L = max(len(e.tokens) for e in examples)
    M = max(1, max(len(e.images) for e in examples))
    tokens = np.full((B, L), pad, np.int64)
    tmask = np.zeros((B, L), bool)
    gap = np.zeros((B, L), bool)
    counts = np.zeros((B, L), np.float32)
    images = np.zeros((B, M) + tuple(latent_shape), np.float32)
    target = np.zeros((B, M) + tuple(latent_shape), np.float32)
    it = np.ones((B, M), np.float32)
    ipos = np.zeros((B, M), np.int64)
    imask = np.zeros((B, M), bool)
    iloss = np.zeros((B, M), bool)
    bb, bp, bt = [], [], []
    for b, e in enumerate(examples):
        n = len(e.tokens)
        tokens[b, :n] = e.tokens
        tmask[b, :n] = True
        gap[b, e.prompt_len - 1:n] = True
        for p, tok in e.bags:
            counts[b, p] += 1
            bb.append(b)
            bp.append(p)
            bt.append(tok)
        fill_images(b, e.images, images, target, it, ipos, imask, iloss)
    T = torch.from_numpy
    return dict(tokens=T(tokens), token_mask=T(tmask), images=T(images), image_t=T(it), image_pos=T(ipos),
                image_mask=T(imask), gap_mask=T(gap), counts=T(counts), bag_b=torch.tensor(bb, dtype=torch.int64),
                bag_pos=torch.tensor(bp, dtype=torch.int64), bag_tok=torch.tensor(bt, dtype=torch.int64),
                img_target=T(target), img_loss_mask=T(iloss),
                text_weight=torch.tensor([e.text_weight for e in examples], dtype=torch.float32))


class StreamV2(Stream):
    """``training.train.Stream`` over version-2 documents: the same chunks and bucketing; the images of
    a chunk are encoded to latents once, in one batch; documents are tokenized with the BPE tokenizer."""

    def __init__(self, cfg: TrainConfig, sampler: DocSamplerV2, tokenizer, encoder: Encoder):
        super().__init__(cfg, sampler)
        self.tokenizer, self.encoder = tokenizer, encoder
        self.spec = spec_of(tokenizer, cfg.model.latent_shape)

    def docs(self, step: int):
        fresh = step // self.cfg.bucket_chunks != self._chunk_id
        chunk = super().docs(step)
        if fresh:
            imgs = [it for batch in self._chunk for p, t, _ in batch for it in list(p) + list(t) if isinstance(it, Img)]
            with torch.no_grad():
                latents = self.encoder(torch.from_numpy(np.stack([im.pixels for im in imgs]))).numpy()
            for im, latent in zip(imgs, latents):
                im.pixels = latent  # [C, h, w]
        return chunk

    def example(self, prompt, target, rng, u: float) -> Noised:
        """One noised document; ``u`` decides prompt dropout ([0, cond_drop)) and text-free dropout."""
        text_free = self.cfg.cond_drop <= u < self.cfg.cond_drop + self.cfg.text_drop
        if u < self.cfg.cond_drop or text_free:
            prompt = []
        if text_free:
            target = [x for x in target if isinstance(x, Img)]
        ids, imgs, plen = doc_ids(self.tokenizer, self.spec, prompt, target)
        if len(ids) > self.cfg.model.max_tokens:
            raise ValueError(f"a document of {len(ids)} tokens exceeds max_tokens {self.cfg.model.max_tokens}")
        return noise_ids(ids, imgs, plen, self.spec.image, rng, text_weight=0.0 if text_free else 1.0)

    def batch(self, step: int, rank: int = 0, world: int = 1):
        rng = np.random.default_rng([self.cfg.seed, 2, step])
        ex = [self.example(p, t, rng, rng.random()) for p, t, _ in self.docs(step)]
        scored = sum(has for e in ex for *_, has in e.images)
        return train_batch_inputs(collate_v2(ex[rank::world], self.cfg.model.latent_shape, self.spec.pad),
                                  max(1, scored) / world)


class OneFlowV2(Objective):
    """OneFlow's objective (``training.train.Objective``) on version-2 documents."""

    def stream(self, cfg: TrainConfig):
        tokenizer, encoder, *_ = load_prepared(cfg.run_dir)
        return StreamV2(cfg, DocSamplerV2(load_images(cfg.seed), "train"), tokenizer, encoder)


ONEFLOW_V2 = OneFlowV2()


def configure(cfg: TrainConfig, tokenizer) -> TrainConfig:
    """The network's vocabulary is the tokenizer's."""
    cfg.model.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="training/configs/oneflow-toy-v2-cpu.json")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--run-dir", dest="run_dir")
    ap.add_argument("--threads", type=int, help="torch threads per process")
    ap.add_argument("--procs", type=int, help="data-parallel CPU processes")
    ap.add_argument("--device")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--fresh", action="store_true", help="redo every stage (tokenizer, autoencoder, network)")
    ap.add_argument("--workers", type=int, default=0, help="processes preparing batches ahead (results do not change)")
    a = ap.parse_args(argv)
    cfg, world = load_config(a.config, steps=a.steps, run_dir=a.run_dir, threads=a.threads, device=a.device,
                             seed=a.seed, procs=a.procs)
    tokenizer, *_ = prepare(cfg, world, fresh=a.fresh)
    ck = train(configure(cfg, tokenizer), resume=not a.fresh, workers=a.workers, objective=ONEFLOW_V2)
    print(f"checkpoint: {ck}")


if __name__ == "__main__":
    main()
