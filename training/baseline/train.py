"""Train the runs of the OneFlow-vs-autoregressive comparison, FLOPs counted for each.

    /usr/bin/python3 -m training.baseline.train --config training/baseline/configs/ar-cpu.json

A config is a ``training.train.TrainConfig`` whose ``objective`` picks what is trained:

  * ``"oneflow"``: OneFlow as ``training.train`` trains it (``image_schedule`` "concurrent", or
    "sequential" for the ablation);
  * ``"ar"``: the autoregressive + flow-matching baseline (Transfusion-style): the same documents
    in the same batches, the whole sequence ``<bos> prompt <sep> target`` under causal attention
    (``ARFlowNet``), next-token prediction on the target and a closing ``<sep>``, and flow matching
    on the target's images.

Both go through ``training.train.train`` (same optimiser, schedule, EMA, checkpoints, resume); the
log's step lines carry the training FLOPs so far (``training.baseline.flops``), and ``keep_steps``
keeps the EMA weights of each budget as ``ckpt-<step>.pt``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from training.baseline.flops import training_step_flops
from training.baseline.model import ARFlowNet
from training.data import SEP, STOI, Img, doc_to_ids
from training.model import ModelConfig
from training.train import (Objective, fill_images, Stream, TrainConfig, flow_matching_loss, model_inputs, train,
                            train_batch_inputs, train_docs)

END = STOI[SEP]  # the baseline closes a document with <sep>: the same vocabulary, no new token
# Share of the target's images shown clean (t = 1, not scored) to the baseline, the rest at
# t ~ U(0, 1). OneFlow's schedule gives its born images exactly this: with τ ~ U[0, 2] and
# u ~ U(0, 1), τ − u ≥ 1 for a third of the images with τ − u ≥ 0, and τ − u is uniform on (0, 1)
# for the rest. So both models see clean and noisy images in the same proportions, and the text
# after an image learns from clean images too (at sampling time it only sees finished ones).
CLEAN_SHARE = 1.0 / 3.0


@dataclass
class ARExample:
    """One baseline training example.

    tokens: ``<bos> prompt <sep> target`` (all of it; nothing is deleted)
    prompt_len: ``<bos>``..``<sep>`` inclusive; the predictions scored are those after positions
        ``prompt_len − 1 .. len − 1`` (the last one predicts ``END``)
    images: (position of its ``<image>`` token, clean latent [1, 28, 28], t_img, eps, scored)
    """
    tokens: List[int]
    prompt_len: int
    images: List[Tuple[int, np.ndarray, float, np.ndarray, bool]]


def ar_document(prompt, target, rng: np.random.Generator, drop_prompt: bool = False,
                clean_share: float = CLEAN_SHARE) -> ARExample:
    """A document for the baseline: prompt images clean, each target image clean with probability
    ``clean_share`` else at t ~ U(0, 1) with noise ε ~ N(0, I)."""
    if drop_prompt:
        prompt = []
    ids, imgs, plen = doc_to_ids(prompt, target)
    images = []
    for p, im in enumerate(imgs):
        if im is None:
            continue
        if p < plen:
            images.append((p, im.pixels, 1.0, np.zeros_like(im.pixels), False))
            continue
        clean = rng.random() < clean_share
        t_img = 1.0 if clean else float(rng.random())
        eps = rng.standard_normal(im.pixels.shape).astype(np.float32)
        images.append((p, im.pixels, t_img, eps, not clean))
    return ARExample(ids, plen, images)


def collate_ar(examples: Sequence[ARExample]):
    """Pad baseline examples into model inputs + targets (torch tensors).

    tokens [B, L] int64 (<pad> = 0), token_mask [B, L] bool, images [B, M, 1, 28, 28] f32 (Y_t),
    image_t [B, M], image_pos [B, M] int64, image_mask [B, M] bool, next_token [B, L] int64 (the
    token after position i, or -1 where nothing is scored), img_target [B, M, 1, 28, 28] (Y_1 − ε),
    img_loss_mask [B, M] bool.
    """
    B = len(examples)
    L = max(len(e.tokens) for e in examples)
    M = max(1, max(len(e.images) for e in examples))
    tokens = np.zeros((B, L), np.int64)
    tmask = np.zeros((B, L), bool)
    nxt = np.full((B, L), -1, np.int64)
    images = np.zeros((B, M, 1, 28, 28), np.float32)
    target = np.zeros((B, M, 1, 28, 28), np.float32)
    it = np.ones((B, M), np.float32)
    ipos = np.zeros((B, M), np.int64)
    imask = np.zeros((B, M), bool)
    iloss = np.zeros((B, M), bool)
    for b, e in enumerate(examples):
        n = len(e.tokens)
        tokens[b, :n] = e.tokens
        tmask[b, :n] = True
        nxt[b, e.prompt_len - 1:n - 1] = e.tokens[e.prompt_len:]
        nxt[b, n - 1] = END
        fill_images(b, e.images, images, target, it, ipos, imask, iloss)
    T = torch.from_numpy
    return dict(tokens=T(tokens), token_mask=T(tmask), next_token=T(nxt), images=T(images), image_t=T(it),
                image_pos=T(ipos), image_mask=T(imask), img_target=T(target), img_loss_mask=T(iloss))


def next_token_loss(q_logprobs, next_token):
    """Mean over documents of the mean −log Q_i(next token) over the document's scored positions
    (the normalisation of OneFlow's L_text, per document). q_logprobs [B, L, V], next_token [B, L]
    (-1 = not scored)."""
    scored = next_token >= 0  # [B, L]
    nll = -torch.gather(q_logprobs, 2, next_token.clamp(min=0)[:, :, None])[:, :, 0]  # [B, L]
    per_doc = (nll * scored).sum(1) / scored.sum(1).clamp(min=1)
    return per_doc.mean()


def ar_loss(outputs, batch, image_loss_weight: float = 1.0):
    """Baseline loss: L_text (next-token cross-entropy) + w_img · L_image (OneFlow's flow-matching
    loss, ``training.train.flow_matching_loss``). Returns (total, text, image) scalar tensors."""
    _, _, q_lp, vel = outputs
    l_text = next_token_loss(q_lp, batch["next_token"])
    l_img = flow_matching_loss(vel, batch)
    return l_text + image_loss_weight * l_img, l_text, l_img


class ARStream(Stream):
    """The baseline's batches: the same documents in the same batches as OneFlow's ``Stream`` (same
    seed and step), the same conditioning-dropout share; a pure function of (seed, step)."""

    def batch(self, step: int, rank: int = 0, world: int = 1):
        rng = np.random.default_rng([self.cfg.seed, 2, step])
        ex = [ar_document(p, t, rng, drop_prompt=rng.random() < self.cfg.cond_drop) for p, t, _ in self.docs(step)]
        scored = sum(s for e in ex for *_, s in e.images)
        return train_batch_inputs(collate_ar(ex[rank::world]), max(1, scored) / world)


class CountedOneFlow(Objective):
    """OneFlow (``training.train``), its FLOPs counted."""

    def flops(self, batch, mc: ModelConfig) -> float:
        return training_step_flops(mc, batch)


class AutoregressiveFlow(Objective):
    name = "ar"

    def network(self, mc: ModelConfig):
        return ARFlowNet(mc)

    def stream(self, cfg: TrainConfig):
        return ARStream(cfg, train_docs(cfg))

    def loss(self, net, batch, cfg: TrainConfig):
        out = net(*model_inputs(batch), vel_index=batch["vel_index"])
        return ar_loss(out, batch, cfg.image_loss_weight)

    def flops(self, batch, mc: ModelConfig) -> float:
        return training_step_flops(mc, batch)


OBJECTIVES = {"oneflow": CountedOneFlow(), "ar": AutoregressiveFlow()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--keep-steps", help="comma-separated budgets (steps) whose EMA weights are kept")
    ap.add_argument("--run-dir", dest="run_dir")
    ap.add_argument("--threads", type=int, help="torch threads per process")
    ap.add_argument("--device")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--workers", type=int, default=0, help="processes preparing batches ahead (results do not change)")
    a = ap.parse_args(argv)
    keep = tuple(int(x) for x in a.keep_steps.split(",")) if a.keep_steps else None
    cfg = TrainConfig.from_json(a.config, steps=a.steps, run_dir=a.run_dir, threads=a.threads, device=a.device,
                                keep_steps=keep)
    ck = train(cfg, resume=not a.fresh, workers=a.workers, objective=OBJECTIVES[cfg.objective])
    print(f"checkpoint: {ck}")


if __name__ == "__main__":
    main()
