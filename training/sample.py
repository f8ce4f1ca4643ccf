"""Reference sampler for OneFlow (docs/algorithm.md §4–5). The TypeScript sampler ports ``step``.

State: tokens (``<bos> prompt <sep> generated...``), prompt_len, one image slot per ``<image>``
token in order (prompt images are clean, t = 1), the text clock t_text.

Random draws come from an explicit stream (``Draws``) in a fixed order, so a port that is fed the
same numbers reproduces the same states exactly (see docs/model-contract.md, "Sampler step"):
  for one step of one generation, when insertion is open (t_text < 1 and length below the cap):
    1. for every insertable gap i = prompt_len-1 .. n-1, in order: three uniforms
       (u_pi, u_rate, u_tok), always all three;
    2. then, for every accepted ``<image>`` insertion from left to right: C·H·W standard normals
       (784 for the version-1 latent [1, 28, 28]), the new latent in row-major order.
  No draws otherwise.

The model's token ids and latent shape come with the state (``State.spec``, a ``ModelSpec``):
version-1 models use the toy vocabulary (``V1_SPEC``), version-2 models their tokenizer.json.

    /usr/bin/python3 -m training.sample --model models/oneflow-toy-v1 --prompt "draw a seven" --steps 32 --w 2
    /usr/bin/python3 -m training.sample --model packages/runtime/fixtures/tiny-v2 --prompt "Draw a red seven."
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from training.contract import (FLOAT_INPUTS, INPUT_NAMES, OUTPUT_NAMES, SAMPLER_DEFAULT_KEYS, V1_SPEC, ModelSpec,
                               decode_text, encode_prompt, load_tokenizer, spec_from_config)
from training.data import STOI, VOCAB, Img, Item


@dataclass
class ImageSlot:
    latent: np.ndarray  # float32 [C, H, W] = spec.latent_shape
    t: float  # own clock in [0, 1]


@dataclass
class State:
    tokens: List[int]
    prompt_len: int
    images: List[ImageSlot]  # one per <image> token, in token order
    t_text: float = 0.0
    capped: bool = False
    spec: ModelSpec = V1_SPEC

    @property
    def done(self) -> bool:
        return self.t_text >= 1.0 and all(im.t >= 1.0 for im in self.images)

    @property
    def n_prompt_images(self) -> int:
        return sum(1 for x in self.tokens[:self.prompt_len] if x == self.spec.image)

    def copy(self) -> "State":
        return State(list(self.tokens), self.prompt_len,
                     [ImageSlot(im.latent.copy(), im.t) for im in self.images], self.t_text, self.capped, self.spec)


@dataclass
class SamplerParams:
    steps: int = 32  # Δt = 1/steps
    w: float = 1.0  # text guidance, 1 = off: λ̃ = λc^w λu^(1−w), Q̃ ∝ Qc^w Qu^(1−w) (u = unconditional(s))
    temperature: float = 1.0  # on guided log Q
    top_k: int = 0  # 0 = off
    max_len: int = 40  # cap on len(tokens), prompt included
    max_images: int = 6  # cap on image slots, prompt images included
    w_image: float = 1.0  # image guidance, 1 = off: ṽ = vf + w_image (vc − vf) (f = text_free(s))


def sampler_defaults(prm: SamplerParams) -> dict:
    """The config.json ``sampler_defaults`` of these settings."""
    return {k: getattr(prm, k) for k in SAMPLER_DEFAULT_KEYS}


def params_from_config(cfg: dict, **override) -> SamplerParams:
    """Sampler settings for a model: its config.json ``sampler_defaults`` (absent keys: SamplerParams'
    defaults) and caps, then ``override`` (keys of SamplerParams; None values are ignored)."""
    d = {**sampler_defaults(SamplerParams()), **cfg.get("sampler_defaults", {})}
    kw = {k: d[k] for k in SAMPLER_DEFAULT_KEYS}
    kw.update(max_len=cfg["max_tokens"], max_images=cfg["max_images"])
    kw.update({k: v for k, v in override.items() if v is not None})
    return SamplerParams(**kw)


def initial_state(prompt: Sequence[Item]) -> State:
    """A version-1 prompt: toy-vocabulary words and ``Img`` items."""
    ids = [V1_SPEC.image if isinstance(it, Img) else STOI[it] for it in prompt]
    return prompt_state(ids, [it.pixels for it in prompt if isinstance(it, Img)], V1_SPEC)


def prompt_state(prompt_ids: Sequence[int], images: Sequence[np.ndarray], spec: ModelSpec) -> State:
    """``<bos> prompt <sep>`` from token ids; ``images``: one clean latent [C, H, W] per image id of
    the prompt, in order."""
    n_image_ids = sum(1 for x in prompt_ids if x == spec.image)
    if n_image_ids != len(images):
        raise ValueError(f"prompt has {n_image_ids} image tokens but {len(images)} images")
    for latent in images:
        if tuple(latent.shape) != spec.latent_shape:
            raise ValueError(f"expected a prompt latent {list(spec.latent_shape)}, got {list(latent.shape)}")
    tokens = [spec.bos] + [int(x) for x in prompt_ids] + [spec.sep]
    slots = [ImageSlot(latent.astype(np.float32).copy(), 1.0) for latent in images]
    return State(tokens, len(tokens), slots, 0.0, False, spec)


def unconditional(s: State) -> State:
    """The same state with the prompt (and its images) replaced by ``<bos> <sep>``."""
    k = s.n_prompt_images
    return State([s.spec.bos, s.spec.sep] + s.tokens[s.prompt_len:], 2, s.images[k:], s.t_text, s.capped, s.spec)


def text_free(s: State) -> State:
    """The twin for image guidance: no text at all — ``<bos> <sep>`` and one ``<image>`` per generated
    image, in order, with their latents and clocks (docs/decisions-model.md, "Image guidance")."""
    k = s.n_prompt_images
    tokens = [s.spec.bos, s.spec.sep] + [s.spec.image] * (len(s.images) - k)
    return State(tokens, 2, s.images[k:], s.t_text, s.capped, s.spec)


def needs_text_free(s: State, prm: "SamplerParams") -> bool:
    """Image guidance needs the text-free twin's forward pass only while an image is denoising."""
    return prm.w_image != 1.0 and any(im.t < 1.0 for im in s.images)


# ----------------------------------------------------------------------------- draws


class Draws:
    """Stream of uniforms in [0,1) and standard normals. Default: numpy PCG64 from a seed."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def uniforms(self, n: int) -> np.ndarray:  # float64 [n]
        return self.rng.random(n)

    def normals(self, n: int) -> np.ndarray:  # float32 [n]
        return self.rng.standard_normal(n).astype(np.float32)


class RecordedDraws(Draws):
    """Replays / records explicit draws (golden vectors)."""

    def __init__(self, uniforms: Sequence[float] = (), normals: Sequence[float] = (), inner: Optional[Draws] = None):
        self.u = list(uniforms); self.n = list(normals); self.inner = inner
        self.used_u: List[float] = []; self.used_n: List[float] = []

    def uniforms(self, n):
        if self.inner is not None:
            out = self.inner.uniforms(n)
        else:
            out = np.asarray(self.u[:n], np.float64); self.u = self.u[n:]
            if len(out) != n:
                raise ValueError(f"ran out of uniforms: needed {n}, had {len(out)}")
        self.used_u += [float(x) for x in out]
        return out

    def normals(self, n):
        if self.inner is not None:
            out = self.inner.normals(n)
        else:
            out = np.asarray(self.n[:n], np.float32); self.n = self.n[n:]
            if len(out) != n:
                raise ValueError(f"ran out of normals: needed {n}, had {len(out)}")
        self.used_n += [float(x) for x in out]
        return out


# ----------------------------------------------------------------------------- step (§2.3)


@dataclass
class Outputs:
    """Model outputs for ONE state (row b of a batch, unpadded).
    pi_logit [n] f32, log_lambda [n] f32, q_logprobs [n, V] f32, velocity [m, C, H, W] f32."""
    pi_logit: np.ndarray
    log_lambda: np.ndarray
    q_logprobs: np.ndarray
    velocity: np.ndarray


def token_distribution(lq_c: np.ndarray, lq_u: Optional[np.ndarray], w: float, temperature: float,
                       top_k: int, never_insert: Sequence[int] = V1_SPEC.never_insert) -> np.ndarray:
    """Guided insertion distribution over the vocabulary: float64 [V], sums to 1.
    logits = (w·log Qc + (1−w)·log Qu) / temperature; ``never_insert`` (<pad>, <bos>, <sep>) removed;
    top-k keeps the k largest (ties to the lower id); softmax."""
    z = lq_c.astype(np.float64)
    if lq_u is not None and w != 1.0:
        z = w * z + (1.0 - w) * lq_u.astype(np.float64)
    z = z / temperature
    z[list(never_insert)] = -np.inf
    if top_k > 0:
        order = np.lexsort((np.arange(len(z)), -z))  # by value desc, then id asc
        z[order[top_k:]] = -np.inf
    z = z - np.max(z)
    p = np.exp(z)
    return p / p.sum()


def pick(p: np.ndarray, u: float) -> int:
    """Inverse CDF: first id k with u < cumsum(p)[k]; the last id with p > 0 if rounding runs out."""
    c = np.cumsum(p)
    k = int(np.searchsorted(c, u, side="right"))
    if k >= len(p):
        k = int(np.nonzero(p > 0)[0][-1])
    return k


def step(s: State, oc: Outputs, ou: Optional[Outputs], prm: SamplerParams, draws: Draws,
         of: Optional[Outputs] = None) -> State:
    """One sampler step of size Δt = 1/steps. ``ou`` (outputs for ``unconditional(s)``) is needed when
    prm.w != 1, ``of`` (outputs for ``text_free(s)``) when ``needs_text_free(s, prm)``.
    Returns a new state; ``s`` is unchanged."""
    dt = 1.0 / prm.steps
    w = prm.w
    guided = ou is not None and w != 1.0
    if of is None and needs_text_free(s, prm):
        raise ValueError(f"image guidance {prm.w_image} needs the text-free twin's outputs")
    image_guided = of is not None and prm.w_image != 1.0
    off = s.prompt_len - 2  # cond position i <-> uncond position i - off (target part)
    k0 = s.n_prompt_images
    new = s.copy()
    # 2. Euler step for every image with t < 1 (its own clock), on the pre-insertion outputs
    for j, im in enumerate(new.images):
        if im.t >= 1.0:
            continue
        v = oc.velocity[j].astype(np.float64)
        if image_guided:
            vf = of.velocity[j - k0].astype(np.float64)
            v = vf + prm.w_image * (v - vf)
        h = min(dt, 1.0 - im.t)
        im.latent = (im.latent.astype(np.float64) + h * v).astype(np.float32)
        im.t = 1.0 if 1.0 - im.t <= dt else im.t + dt
    # 3. insertions
    if s.t_text < 1.0:
        h = min(dt, 1.0 - s.t_text)
        n = len(s.tokens)
        inserts: Dict[int, int] = {}  # gap position -> token
        if not s.capped:
            gaps = range(s.prompt_len - 1, n)
            u = draws.uniforms(3 * len(gaps)).reshape(len(gaps), 3)
            n_img = len(s.images)
            room = prm.max_len - n
            for g, i in enumerate(gaps):
                p_gap = 1.0 / (1.0 + math.exp(float(oc.pi_logit[i])))  # 1 − π_i
                ll = float(oc.log_lambda[i])
                if guided:
                    ll = w * ll + (1.0 - w) * float(ou.log_lambda[i - off])
                p_rate = min(1.0, h / (1.0 - s.t_text) * math.exp(ll))  # κ̇/(1−κ) = 1/(1−t) for linear κ
                if not (u[g, 0] < p_gap and u[g, 1] < p_rate):
                    continue
                q = token_distribution(oc.q_logprobs[i], ou.q_logprobs[i - off] if guided else None,
                                       w, prm.temperature, prm.top_k, s.spec.never_insert)
                tok = pick(q, float(u[g, 2]))
                if len(inserts) >= room:
                    continue  # length cap reached within this step
                if tok == s.spec.image:
                    if n_img >= prm.max_images:
                        continue
                    n_img += 1
                inserts[i] = tok
        # apply all insertions at once; new images get N(0, I) noise (C·H·W normals) and t = 0
        toks: List[int] = []
        imgs: List[ImageSlot] = []
        it = iter(new.images)
        for i, tok in enumerate(s.tokens):
            toks.append(tok)
            if tok == s.spec.image:
                imgs.append(next(it))
            if i in inserts:
                toks.append(inserts[i])
                if inserts[i] == s.spec.image:
                    noise = draws.normals(s.spec.latent_size).reshape(s.spec.latent_shape)
                    imgs.append(ImageSlot(noise.astype(np.float32), 0.0))
        new.tokens, new.images = toks, imgs
        new.t_text = 1.0 if 1.0 - s.t_text <= dt else s.t_text + dt
        if len(toks) >= prm.max_len:
            # 4. length cap: no more insertions; the text clock closes, images finish their flow
            new.capped = True
            new.t_text = 1.0
    return new


# ----------------------------------------------------------------------------- batching + runners


def pack(states: Sequence[State]) -> Dict[str, np.ndarray]:
    """States -> model inputs (docs/model-contract.md). Pads tokens with <pad>, images with
    masked zero slots; M >= 1. Every state must have the same spec."""
    spec = states[0].spec
    if any(s.spec != spec for s in states):
        raise ValueError("states of different models cannot share a batch")
    B = len(states)
    L = max(len(s.tokens) for s in states)
    M = max(1, max(len(s.images) for s in states))
    tokens = np.full((B, L), spec.pad, np.int64)
    tmask = np.zeros((B, L), bool)
    images = np.zeros((B, M) + spec.latent_shape, np.float32)
    it = np.ones((B, M), np.float32)
    ipos = np.zeros((B, M), np.int64)
    imask = np.zeros((B, M), bool)
    for b, s in enumerate(states):
        tokens[b, :len(s.tokens)] = s.tokens
        tmask[b, :len(s.tokens)] = True
        pos = [i for i, x in enumerate(s.tokens) if x == spec.image]
        if len(pos) != len(s.images):
            raise ValueError(f"state has {len(pos)} <image> tokens but {len(s.images)} image slots")
        for j, (p, im) in enumerate(zip(pos, s.images)):
            images[b, j] = im.latent; it[b, j] = im.t; ipos[b, j] = p; imask[b, j] = True
    return dict(tokens=tokens, token_mask=tmask, images=images, image_t=it, image_pos=ipos, image_mask=imask)


def unpack(out: Dict[str, np.ndarray], states: Sequence[State]) -> List[Outputs]:
    res = []
    for b, s in enumerate(states):
        n, m = len(s.tokens), len(s.images)
        res.append(Outputs(out["pi_logit"][b, :n], out["log_lambda"][b, :n], out["q_logprobs"][b, :n],
                           out["velocity"][b, :m]))
    return res


def ort_session(path, threads: int = 2):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OrtRunner:
    """model.onnx through ONNX Runtime. A float16 model (contract version 2) is fed float16
    ``images`` / ``image_t`` and its outputs are returned as float32: the conversion happens here,
    at the boundary, and the sampler computes in float32 / float64 as for a float32 model."""

    def __init__(self, path: str, threads: int = 2):
        self.sess = ort_session(path, threads)
        self.half_inputs = {i.name for i in self.sess.get_inputs() if i.type == "tensor(float16)"}

    def __call__(self, inp: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feed = {k: v.astype(np.float16) if k in self.half_inputs else v for k, v in inp.items()}
        outs = self.sess.run(OUTPUT_NAMES, feed)
        return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in zip(OUTPUT_NAMES, outs)}


class TorchRunner:
    def __init__(self, model, device: str = "cpu"):
        self.model = model.eval().to(device)
        self.device = device

    def __call__(self, inp):
        import torch
        with torch.no_grad():
            outs = self.model(*[torch.from_numpy(inp[k]).to(self.device) for k in INPUT_NAMES])
        return {k: v.float().cpu().numpy() for k, v in zip(OUTPUT_NAMES, outs)}


def run_many(states: List[State], runner: Callable, prm: SamplerParams, draws: List[Draws],
             max_batch: int = 64, max_iters: int = 10_000) -> List[State]:
    """Advance every state until done. Each generation has its own draw stream; forward passes of
    different generations (and cond/uncond) are batched together, which does not change results
    beyond float rounding of the batched forward."""
    states = list(states)
    guided = prm.w != 1.0
    for _ in range(max_iters):
        live = [i for i, s in enumerate(states) if not s.done]
        if not live:
            break
        # similar image counts / lengths share a forward pass: padding to the batch's M costs conv time
        live.sort(key=lambda i: (len(states[i].images), len(states[i].tokens)))
        for c in range(0, len(live), max_batch):
            idx = live[c:c + max_batch]
            batch = [states[i] for i in idx]
            if guided:
                batch = batch + [unconditional(states[i]) for i in idx]
            free = {i: len(batch) + k for k, i in enumerate(j for j in idx if needs_text_free(states[j], prm))}
            batch = batch + [text_free(states[i]) for i in free]
            outs = unpack(runner(pack(batch)), batch)
            for k, i in enumerate(idx):
                states[i] = step(states[i], outs[k], outs[len(idx) + k] if guided else None, prm, draws[i],
                                 outs[free[i]] if i in free else None)
    return states


def generate(prompt: Sequence[Item], runner: Callable, prm: SamplerParams, seed: int = 0) -> State:
    return run_many([initial_state(prompt)], runner, prm, [Draws(seed)])[0]


def render_text(s: State, with_prompt: bool = False, tokenizer=None) -> str:
    """Version 1: toy-vocabulary words joined by spaces; with a tokenizer (version 2) its decoding,
    special tokens kept."""
    toks = s.tokens if with_prompt else s.tokens[s.prompt_len:]
    if tokenizer is not None:
        return decode_text(tokenizer, toks)
    return " ".join(VOCAB[t] for t in toks)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/oneflow-toy-v1")
    ap.add_argument("--prompt", required=True, help="version 1: toy-vocabulary words; version 2: free text "
                    "(input images, '<image>', are not supported here)")
    ap.add_argument("--steps", type=int, help="default: the model's sampler_defaults (config.json)")
    ap.add_argument("--w", type=float, help="text guidance weight; default: sampler_defaults")
    ap.add_argument("--w-image", type=float, help="image guidance weight; default: sampler_defaults")
    ap.add_argument("--temperature", type=float, help="token temperature; default: sampler_defaults")
    ap.add_argument("--top-k", type=int, help="default: sampler_defaults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--png", help="write the images of the samples as a PNG grid")
    a = ap.parse_args(argv)
    model_dir = Path(a.model)
    cfg = json.loads((model_dir / "config.json").read_text())
    runner = OrtRunner(str(model_dir / cfg.get("onnx_file", "model.onnx")))
    prm = params_from_config(cfg, steps=a.steps, w=a.w, w_image=a.w_image, temperature=a.temperature, top_k=a.top_k)
    tokenizer = None
    if cfg.get("contract_version", 1) >= 2:
        tokenizer = load_tokenizer(model_dir / cfg["tokenizer"]["file"])
        spec = spec_from_config(cfg, tokenizer)
        first = prompt_state(encode_prompt(tokenizer, a.prompt), [], spec)
    else:
        first = initial_state(a.prompt.split())
    out = run_many([first.copy() for _ in range(a.n)], runner, prm, [Draws(a.seed + i) for i in range(a.n)])
    for s in out:
        print(render_text(s, tokenizer=tokenizer))
    if a.png:
        from training.model_io import write_grid
        rows = [[im.latent for im in s.images] for s in out]
        if cfg.get("decoder"):  # latents -> pixels [C, H, W]
            decoder = ort_session(model_dir / cfg["decoder"]["file"])
            rows = [list(decoder.run(["pixels"], {"latent": np.stack(row)})[0]) if row else [] for row in rows]
        write_grid(a.png, rows)


if __name__ == "__main__":
    main()
