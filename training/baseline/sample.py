"""Samplers of the comparison: the autoregressive + flow-matching baseline, and OneFlow with the
sequential schedule (the ablation). OneFlow itself samples with ``training.sample``.

Autoregressive baseline, one step of one generation (``ar_step``):
  1. **Image** — while the last image is denoising (t < 1): one Euler step on its clock,
     ``h = min(Δt, 1 − t)``, ``Y ← Y + h·ṽ``, with image guidance ``ṽ = v_f + w_image·(v_c − v_f)``
     against the text-free twin ``<bos> <sep> <image>`` (that image alone). Text waits.
  2. **Token** — otherwise: the next token from ``Q`` at the last position (temperature, top-k;
     ``<pad>`` and ``<bos>`` never drawn, ``<image>`` not once ``max_images`` slots exist), one uniform.
     ``<sep>`` ends the text; ``<image>`` opens a slot with fresh noise N(0, I) (C·H·W normals) at t = 0,
     which step 1 then completes before text resumes. Reaching ``max_len`` tokens ends the text too.
  A generation is done when the text has ended and every image is complete.

Random draws come from the generation's own ``Draws`` stream: one uniform per token, then the new
image's normals; none during image steps. The outputs are ``training.sample.State``-like objects
(tokens, prompt_len, images), so ``training.evaluate.score`` judges both models the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from training.contract import V1_SPEC, ModelSpec
from training.data import STOI, Img, Item
from training.model import ModelConfig
from training.baseline.flops import forward_flops
from training.sample import (Draws, ImageSlot, Outputs, SamplerParams, State, needs_text_free, pack, pick, step,
                             text_free, token_distribution, unconditional, unpack)

END = V1_SPEC.sep  # the baseline's end of text (training.baseline.train.END)


@dataclass
class ARParams:
    steps: int = 32  # Euler steps per image (Δt = 1/steps), as OneFlow's per-clock steps
    temperature: float = 1.0  # on log Q
    top_k: int = 0  # 0 = off
    max_len: int = 40  # cap on len(tokens), prompt included (the model's position table)
    max_images: int = 6  # cap on image slots, prompt images included
    w_image: float = 1.0  # image guidance, 1 = off


@dataclass
class ARState:
    tokens: List[int]
    prompt_len: int
    images: List[ImageSlot]  # one per <image> token, in token order
    ended: bool = False  # the text has ended (<sep> drawn or max_len reached)
    spec: ModelSpec = V1_SPEC

    @property
    def denoising(self) -> bool:
        """The last image is still on its way (the text waits for it)."""
        return bool(self.images) and self.images[-1].t < 1.0

    @property
    def done(self) -> bool:
        return self.ended and not self.denoising

    @property
    def n_prompt_images(self) -> int:
        return sum(1 for x in self.tokens[:self.prompt_len] if x == self.spec.image)

    def copy(self) -> "ARState":
        return ARState(list(self.tokens), self.prompt_len, [ImageSlot(im.latent.copy(), im.t) for im in self.images],
                       self.ended, self.spec)


def ar_initial_state(prompt: Sequence[Item]) -> ARState:
    """``<bos> prompt <sep>`` from toy-vocabulary words and ``Img`` items (prompt images clean)."""
    ids = [V1_SPEC.image if isinstance(it, Img) else STOI[it] for it in prompt]
    tokens = [V1_SPEC.bos] + ids + [V1_SPEC.sep]
    images = [ImageSlot(it.pixels.astype(np.float32).copy(), 1.0) for it in prompt if isinstance(it, Img)]
    return ARState(tokens, len(tokens), images)


def ar_text_free(s: ARState) -> ARState:
    """The image-guidance twin of a denoising state: ``<bos> <sep> <image>`` with that image only."""
    return ARState([s.spec.bos, s.spec.sep, s.spec.image], 2, [s.images[-1]], False, s.spec)


def ar_step(s: ARState, oc: Outputs, of: Optional[Outputs], prm: ARParams, draws: Draws) -> ARState:
    """One step (see the module docstring). ``oc``: outputs for ``s``; ``of``: outputs for
    ``ar_text_free(s)``, needed while an image is denoising and ``w_image != 1``. Returns a new state."""
    if s.done:
        raise ValueError("the generation is done")
    new = s.copy()
    if s.denoising:
        # 1. Euler step of the last image on its own clock
        im = new.images[-1]
        v = oc.velocity[-1].astype(np.float64)
        if prm.w_image != 1.0:
            if of is None:
                raise ValueError(f"image guidance {prm.w_image} needs the text-free twin's outputs")
            vf = of.velocity[0].astype(np.float64)
            v = vf + prm.w_image * (v - vf)
        dt = 1.0 / prm.steps
        h = min(dt, 1.0 - im.t)
        im.latent = (im.latent.astype(np.float64) + h * v).astype(np.float32)
        im.t = 1.0 if 1.0 - im.t <= dt else im.t + dt
        return new
    # 2. next token at the last position
    never = [s.spec.pad, s.spec.bos] + ([s.spec.image] if len(s.images) >= prm.max_images else [])
    q = token_distribution(oc.q_logprobs[-1], None, 1.0, prm.temperature, prm.top_k, never)
    tok = pick(q, float(draws.uniforms(1)[0]))
    if tok == END:
        new.ended = True
        return new
    new.tokens.append(tok)
    if tok == s.spec.image:
        noise = draws.normals(s.spec.latent_size).reshape(s.spec.latent_shape)
        new.images.append(ImageSlot(noise.astype(np.float32), 0.0))
    if len(new.tokens) >= prm.max_len:
        new.ended = True  # length cap; an image just opened still completes
    return new


class CountingRunner:
    """Wraps a runner; counts the rows it evaluates (forward passes, guidance twins included) and
    their FLOPs (``forward_flops`` of each padded batch)."""

    def __init__(self, runner: Callable, mc: ModelConfig):
        self.runner, self.mc = runner, mc
        self.rows, self.flops, self.calls = 0, 0.0, 0

    def __call__(self, inp: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        B, L = inp["tokens"].shape
        M = inp["images"].shape[1]
        self.rows += B
        self.calls += 1
        self.flops += forward_flops(self.mc, B, L, M, B * M)
        return self.runner(inp)


def run_ar_many(states: List[ARState], runner: Callable, prm: ARParams, draws: List[Draws],
                max_batch: int = 64, max_iters: int = 10_000) -> List[ARState]:
    """Advance every generation until done; forward passes of different generations (and twins)
    are batched, which does not change results beyond float rounding of the batched forward."""
    states = list(states)
    for _ in range(max_iters):
        live = [i for i, s in enumerate(states) if not s.done]
        if not live:
            break
        live.sort(key=lambda i: (len(states[i].images), len(states[i].tokens)))
        for c in range(0, len(live), max_batch):
            idx = live[c:c + max_batch]
            batch = [states[i] for i in idx]
            twin = {i: len(batch) + k for k, i in enumerate(j for j in idx if prm.w_image != 1.0 and states[j].denoising)}
            batch = batch + [ar_text_free(states[i]) for i in twin]
            outs = unpack(runner(pack(batch)), batch)
            for k, i in enumerate(idx):
                states[i] = ar_step(states[i], outs[k], outs[twin[i]] if i in twin else None, prm, draws[i])
    return states


# ----------------------------------------------------------------------------- sequential OneFlow


def sequential_step(s: State, oc: Outputs, ou: Optional[Outputs], prm: SamplerParams, draws: Draws,
                    of: Optional[Outputs] = None) -> State:
    """OneFlow's step (``training.sample.step``) for a model trained with ``image_schedule``
    "sequential": while the text clock runs, images are born as usual but stay pure noise at t = 0;
    once t_text = 1 every image follows its flow. Returns a new state."""
    if s.t_text >= 1.0:
        return step(s, oc, ou, prm, draws, of)
    frozen = replace(oc, velocity=np.zeros_like(oc.velocity))
    new = step(s, frozen, ou, replace(prm, w_image=1.0), draws, None)
    k = new.n_prompt_images
    for im in new.images[k:]:
        im.t = 0.0  # the zero velocity left the latent as it was; its clock waits for the text
    return new


def run_sequential_many(states: List[State], runner: Callable, prm: SamplerParams, draws: List[Draws],
                        max_batch: int = 64, max_iters: int = 10_000) -> List[State]:
    """``training.sample.run_many`` with ``sequential_step``."""
    states = list(states)
    guided = prm.w != 1.0
    for _ in range(max_iters):
        live = [i for i, s in enumerate(states) if not s.done]
        if not live:
            break
        live.sort(key=lambda i: (len(states[i].images), len(states[i].tokens)))
        for c in range(0, len(live), max_batch):
            idx = live[c:c + max_batch]
            batch = [states[i] for i in idx]
            if guided:
                batch = batch + [unconditional(states[i]) for i in idx]
            free = {i: len(batch) + k for k, i in enumerate(
                j for j in idx if states[j].t_text >= 1.0 and needs_text_free(states[j], prm))}
            batch = batch + [text_free(states[i]) for i in free]
            outs = unpack(runner(pack(batch)), batch)
            for k, i in enumerate(idx):
                states[i] = sequential_step(states[i], outs[k], outs[len(idx) + k] if guided else None, prm,
                                            draws[i], outs[free[i]] if i in free else None)
    return states
