"""Train the OneFlow toy model (docs/algorithm.md §3).

    /usr/bin/python3 -m training.train --config training/configs/oneflow-toy-v1.json

Seeded (data, schedule draws and noise are a pure function of (seed, step)), resumable from
``<run_dir>/ckpt.pt``, with a progress bar on stderr and a log file ``<run_dir>/train.log``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from training.data import (BOS, IMAGE, SEP, STOI, TASKS, VOCAB, DocSampler, Img, doc_to_ids,
                           load_images)
from training.model import ModelConfig, OneFlowNet, count_params
from training.model_io import torch_load
from training.sample import SamplerParams, sampler_defaults


@dataclass
class TrainConfig:
    name: str = "oneflow-toy-v1"
    seed: int = 0
    steps: int = 6000
    schedule_steps: Optional[int] = None  # length of the learning-rate schedule (None: steps); a run of
    # fewer steps then trains exactly the first part of the longer run
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_frac: float = 0.05
    warmup: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema: float = 0.999
    image_loss_weight: float = 3.0
    cond_drop: float = 0.1
    # text-free dropout: this share of examples keeps only its images (prompt and words dropped, no
    # text loss) — the sequence image guidance is taken against (docs/decisions-model.md)
    text_drop: float = 0.0
    # share of digit captions that are parity questions (data.DocSampler); None = a quarter each of
    # the four question kinds, i.e. half parity (the batch stream of earlier configs is unchanged)
    caption_parity: Optional[float] = None
    caption_odd: Optional[float] = None  # share of those asking "is it odd?"; None = half (data.DocSampler)
    # task mix, same order as data.TASKS: draw caption describe count list arith mixed
    mix: Tuple[float, ...] = (0.30, 0.14, 0.08, 0.18, 0.10, 0.10, 0.10)
    # when an image's own clock starts: "concurrent" (at its birth, docs/algorithm.md §3 step 3) or
    # "sequential" (once the text is complete, τ = 1: the ablation of training/baseline/)
    image_schedule: str = "concurrent"
    # what is trained: "oneflow" (this module) or "ar" (the autoregressive baseline, trained by
    # training.baseline.train, which passes its Objective to train())
    objective: str = "oneflow"
    keep_steps: Tuple[int, ...] = ()  # steps whose EMA weights are also kept as ckpt-<step>.pt (budgets)
    bucket_chunks: int = 8  # batches generated together and sorted by size
    ckpt_every: int = 250
    log_every: int = 25
    threads: int = 2  # torch threads per process
    procs: int = 1  # data-parallel processes (CPU: each takes 1/procs of every batch; gradients all-reduced)
    device: str = "cpu"
    run_dir: str = "training/runs/oneflow-toy-v1"
    # sampler settings shipped as config.json "sampler_defaults" (export); not used by training
    sampler: dict = field(default_factory=lambda: sampler_defaults(SamplerParams(w_image=2.0, temperature=0.3)))
    model: ModelConfig = field(default_factory=ModelConfig)

    @staticmethod
    def from_json(path: Optional[str], **over) -> "TrainConfig":
        raw = json.loads(Path(path).read_text()) if path else {}
        raw.update({k: v for k, v in over.items() if v is not None})
        mc = ModelConfig(**{**asdict(ModelConfig()), **raw.pop("model", {})})
        mc.chans = tuple(mc.chans)
        known = {f.name for f in fields(TrainConfig)}
        bad = set(raw) - known
        if bad:
            raise ValueError(f"unknown config keys {sorted(bad)}")
        cfg = TrainConfig(**raw, model=mc)
        cfg.mix = tuple(cfg.mix)
        cfg.keep_steps = tuple(cfg.keep_steps)
        if cfg.image_schedule not in ("concurrent", "sequential"):
            raise ValueError(f"image_schedule must be 'concurrent' or 'sequential', got {cfg.image_schedule!r}")
        cfg.model.vocab_size = len(VOCAB)
        return cfg

    def to_dict(self):
        d = asdict(self); d["model"] = self.model.to_dict(); d["mix"] = list(self.mix)
        d["keep_steps"] = list(self.keep_steps)
        return d


# ----------------------------------------------------------------------------- noising (§2.2)


@dataclass
class Noised:
    """One noised training example.

    tokens: noisy token ids (``<bos> prompt <sep>`` then the surviving target items)
    prompt_len: length of the clean prompt part (``<bos>``..``<sep>``)
    bags: list of (position in ``tokens``, token id) — each missing item goes to the bag of the
        nearest kept position on its left (unborn images contribute ``<image>``)
    images: list of (position of its ``<image>`` token, clean latent [1,28,28], t_img, eps, has_loss)
    """
    tokens: List[int]
    prompt_len: int
    bags: List[Tuple[int, int]]
    images: List[Tuple[int, np.ndarray, float, np.ndarray, bool]]
    t_text: float
    text_weight: float = 1.0  # 0 for a text-free example: only its images are scored


def noise_document(prompt, target, rng: np.random.Generator, tau: Optional[float] = None,
                   drop_prompt: bool = False, text_free: bool = False, sequential: bool = False) -> Noised:
    """docs/algorithm.md §3 steps 1–3 with linear κ. ``tau`` may be fixed (tests). ``text_free``: drop the
    prompt and every target word, keep the target's images (text loss off). ``sequential`` (an ablation):
    images are born as in §3 but their clocks start only once the text is complete,
    ``t_img = clip(τ − 1, 0, 1)``, and are scored only then (τ ≥ 1); the same draws are made."""
    if drop_prompt or text_free:
        prompt = []
    if text_free:
        target = [x for x in target if isinstance(x, Img)]
    ids, imgs, plen = doc_to_ids(prompt, target)
    # 1. τ ~ U[0,2], t_text = κ(min(1, τ))
    tau = float(rng.uniform(0.0, 2.0)) if tau is None else tau
    t_text = min(1.0, tau)
    tokens = ids[:plen]
    images = [(p, im.pixels, 1.0, np.zeros_like(im.pixels), False)
              for p, im in enumerate(imgs[:plen]) if im is not None]  # prompt images: clean
    bags: List[Tuple[int, int]] = []
    for tok, im in zip(ids[plen:], imgs[plen:]):
        if im is None:
            # 2. keep each target text token with probability κ(t_text)
            if rng.random() < t_text:
                tokens.append(tok)
            else:
                bags.append((len(tokens) - 1, tok))
        else:
            # 3. image birth: τ_img = τ − κ⁻¹(u); unborn -> <image> in the bag of its gap
            u = rng.random()
            t_img = tau - u
            eps = rng.standard_normal(im.pixels.shape).astype(np.float32)
            if t_img < 0:
                bags.append((len(tokens) - 1, STOI[IMAGE]))
            else:
                scored = t_img < 1.0
                t_img = min(1.0, t_img)
                if sequential:
                    t_img = min(1.0, max(0.0, tau - 1.0))
                    scored = tau >= 1.0 and t_img < 1.0
                tokens.append(tok)
                images.append((len(tokens) - 1, im.pixels, t_img, eps, scored))
    return Noised(tokens, plen, bags, images, t_text, 0.0 if text_free else 1.0)


def fill_images(b, doc_images, images, target, it, ipos, imask, iloss):
    """Row `b`'s images into the batch arrays: Y_t = t·Y1 + (1−t)·ε, the velocity target Y1 − ε,
    clocks, positions, and which are present and scored (every collate of every objective)."""
    for j, (p, y1, t, eps, scored) in enumerate(doc_images):
        images[b, j] = t * y1 + (1.0 - t) * eps  # Y_t
        target[b, j] = y1 - eps
        it[b, j] = t
        ipos[b, j] = p
        imask[b, j] = True
        iloss[b, j] = scored


def collate(examples: Sequence[Noised]):
    """Pad a list of noised examples into model inputs + loss targets (all torch tensors).

    tokens [B, L] int64, token_mask [B, L] bool, images [B, M, 1, 28, 28] f32 (Y_t),
    image_t [B, M] f32, image_pos [B, M] int64, image_mask [B, M] bool,
    gap_mask [B, L] bool (insertion allowed), counts [B, L] f32 (k_i),
    bag_b/bag_pos/bag_tok [K] int64, img_target [B, M, 1, 28, 28] (Y_1 − ε), img_loss_mask [B, M],
    text_weight [B] f32.
    """
    B = len(examples)
    L = max(len(e.tokens) for e in examples)
    M = max(1, max(len(e.images) for e in examples))
    tokens = np.zeros((B, L), np.int64)
    tmask = np.zeros((B, L), bool)
    gap = np.zeros((B, L), bool)
    counts = np.zeros((B, L), np.float32)
    images = np.zeros((B, M, 1, 28, 28), np.float32)
    target = np.zeros((B, M, 1, 28, 28), np.float32)
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
            bb.append(b); bp.append(p); bt.append(tok)
        fill_images(b, e.images, images, target, it, ipos, imask, iloss)
    T = torch.from_numpy
    return dict(tokens=T(tokens), token_mask=T(tmask), images=T(images), image_t=T(it),
                image_pos=T(ipos), image_mask=T(imask), gap_mask=T(gap), counts=T(counts),
                bag_b=torch.tensor(bb, dtype=torch.int64), bag_pos=torch.tensor(bp, dtype=torch.int64),
                bag_tok=torch.tensor(bt, dtype=torch.int64), img_target=T(target),
                img_loss_mask=T(iloss),
                text_weight=torch.tensor([e.text_weight for e in examples], dtype=torch.float32))


def oneflow_loss(outputs, batch, image_loss_weight: float = 1.0):
    """docs/algorithm.md §3 step 4. Returns (total, text, image) scalar tensors.

    L_text per example = (1/n) Σ_gaps [ −Σ_{a∈A_i} log Q_i(a) + 1[k_i>0](λ_i − k_i log λ_i)
                                        + BCE(π_i, 1[k_i=0]) ],  n = number of insertable gaps;
    times the example's ``text_weight`` (0 for text-free examples, else 1), averaged over the batch.
    L_image = mean over images with t_img < 1 of mean_pixels (v − (Y1−ε))².
    """
    pi_logit, log_lam, q_lp, vel = outputs
    l_text = edit_flow_text_loss(pi_logit, log_lam, q_lp, batch)
    l_img = flow_matching_loss(vel, batch)
    return l_text + image_loss_weight * l_img, l_text, l_img


def edit_flow_text_loss(pi_logit, log_lam, q_lp, batch):
    """L_text of ``oneflow_loss``, averaged over the batch."""
    gap = batch["gap_mask"].to(pi_logit.dtype)  # [B, L]
    k = batch["counts"]
    has = (k > 0).to(pi_logit.dtype)
    bce = F.binary_cross_entropy_with_logits(pi_logit, (k == 0).to(pi_logit.dtype), reduction="none")
    pois = has * (torch.exp(log_lam) - k * log_lam)
    per_pos = (bce + pois) * gap  # [B, L]
    nll_q = -q_lp[batch["bag_b"], batch["bag_pos"], batch["bag_tok"]]  # [K]
    per_doc = per_pos.sum(1) + torch.zeros_like(per_pos[:, 0]).index_add(0, batch["bag_b"], nll_q)
    return (per_doc / gap.sum(1) * batch["text_weight"]).mean()


def flow_matching_loss(vel, batch):
    """L_image: mean over the scored images (t_img < 1) of mean_pixels (v − (Y1 − ε))². ``vel`` is
    [K, C, H, W] (the scored images only, ``train_batch_inputs``) or [B, M, C, H, W] (masked)."""
    if vel.dim() == 4:  # packed: velocities of the scored images only (see train_batch_inputs)
        tgt = batch["img_target"].flatten(0, 1)[batch["vel_index"]]  # [K, 1, 28, 28]
        se = ((vel - tgt) ** 2).flatten(1).mean(-1) * batch["vel_weight"]  # [K]
        l_img = se.sum() / batch["img_norm"]
    else:
        m = batch["img_loss_mask"].to(vel.dtype)  # [B, M]
        se = ((vel - batch["img_target"]) ** 2).flatten(2).mean(-1)  # [B, M]
        l_img = (se * m).sum() / m.sum().clamp(min=1.0)
    return l_img


# ----------------------------------------------------------------------------- data stream


class Stream:
    """Batches as a pure function of (seed, step): chunks of ``bucket_chunks`` batches are drawn
    together and sorted by (#images, length) so that padding stays small."""

    def __init__(self, cfg: TrainConfig, sampler: DocSampler):
        self.cfg, self.sampler = cfg, sampler
        self._chunk_id, self._chunk = None, None

    def docs(self, step: int):
        c, i = divmod(step, self.cfg.bucket_chunks)
        if c != self._chunk_id:
            rng = np.random.default_rng([self.cfg.seed, 1, c])
            n = self.cfg.batch_size * self.cfg.bucket_chunks
            docs = [self.sampler.sample(rng, self.cfg.mix) for _ in range(n)]
            key = [(sum(isinstance(x, Img) for x in p + t), len(p) + len(t)) for p, t, _ in docs]
            order = sorted(range(n), key=lambda j: key[j])
            batches = [order[b * self.cfg.batch_size:(b + 1) * self.cfg.batch_size]
                       for b in range(self.cfg.bucket_chunks)]
            perm = rng.permutation(self.cfg.bucket_chunks)
            self._chunk = [[docs[j] for j in batches[p]] for p in perm]
            self._chunk_id = c
        return self._chunk[i]

    def batch(self, step: int, rank: int = 0, world: int = 1):
        """The examples of ``step`` (all of them, or every ``world``-th from ``rank`` for a
        data-parallel process), plus the packed-velocity inputs of ``train_batch_inputs``."""
        rng = np.random.default_rng([self.cfg.seed, 2, step])
        ex = []
        for p, t, _ in self.docs(step):
            u = rng.random()  # one draw per example: [0, cond_drop) prompt dropped, then text_drop text-free
            ex.append(noise_document(p, t, rng, drop_prompt=u < self.cfg.cond_drop,
                                     text_free=self.cfg.cond_drop <= u < self.cfg.cond_drop + self.cfg.text_drop,
                                     sequential=self.cfg.image_schedule == "sequential"))
        scored = sum(has for e in ex for *_, has in e.images)
        return train_batch_inputs(collate(ex[rank::world]), max(1, scored) / world)


def train_docs(cfg: TrainConfig) -> DocSampler:
    """The training documents of ``cfg``: train-split images, its caption question mix."""
    return DocSampler(load_images(cfg.seed), "train", cfg.caption_parity, cfg.caption_odd)


def train_batch_inputs(batch, img_norm: float):
    """Adds ``vel_index`` (the images with t_img < 1: the only ones the loss scores, so the up path
    runs on those alone), ``vel_weight`` and the image-loss normaliser ``img_norm`` (scored images in
    the whole batch / processes, so that averaging the processes' gradients gives the batch mean)."""
    idx = batch["img_loss_mask"].flatten().nonzero().squeeze(1)
    batch["vel_weight"] = torch.ones(len(idx))
    if len(idx) == 0:  # keep the up path in the graph (data-parallel reduction expects every gradient)
        idx, batch["vel_weight"] = torch.zeros(1, dtype=torch.int64), torch.zeros(1)
    batch["vel_index"], batch["img_norm"] = idx, torch.tensor(float(img_norm))
    return batch


# ----------------------------------------------------------------------------- loop


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, (cfg.schedule_steps or cfg.steps) - cfg.warmup)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


class Progress:
    def __init__(self, total: int, start: int):
        self.total, self.start, self.t0 = total, start, time.time()

    def show(self, step: int, msg: str):
        done = step - self.start
        el = time.time() - self.t0
        eta = el / max(done, 1) * (self.total - step)
        w = 30
        f = int(w * step / self.total)
        sys.stderr.write(f"\r[{'#' * f}{'.' * (w - f)}] {step}/{self.total} {msg} "
                         f"{el / 60:.1f}m elapsed, ETA {eta / 60:.1f}m ")
        sys.stderr.flush()


def model_inputs(batch):
    return (batch["tokens"], batch["token_mask"], batch["images"], batch["image_t"],
            batch["image_pos"], batch["image_mask"])


class _Steps(torch.utils.data.Dataset):
    """Steps [start, end) as a dataset, so batches can be prepared by worker processes; a batch is
    still a pure function of (seed, step), whatever the number of workers."""

    def __init__(self, stream: Stream, start: int, end: int, rank: int, world: int):
        self.stream, self.start, self.end, self.rank, self.world = stream, start, end, rank, world

    def __len__(self):
        return self.end - self.start

    def __getitem__(self, i):
        return self.stream.batch(self.start + i, self.rank, self.world)


def batches(stream: Stream, start: int, end: int, workers: int, rank: int = 0, world: int = 1):
    """Iterate the batches of steps [start, end), prepared in ``workers`` processes when > 0."""
    if workers <= 0:
        return (stream.batch(s, rank, world) for s in range(start, end))
    return iter(torch.utils.data.DataLoader(_Steps(stream, start, end, rank, world), batch_size=None, shuffle=False,
                                            num_workers=workers, prefetch_factor=4, persistent_workers=False))


class Objective:
    """What ``train`` optimises: the network, the batch stream and the loss. This one is OneFlow's
    (docs/algorithm.md §3); the autoregressive baseline's is in training/baseline/train.py. Instances
    are module-level objects, so data-parallel processes can unpickle them."""

    name = "oneflow"

    def network(self, mc: ModelConfig) -> torch.nn.Module:
        return OneFlowNet(mc)

    def stream(self, cfg: TrainConfig):
        return Stream(cfg, train_docs(cfg))

    def loss(self, net, batch, cfg: TrainConfig):
        """-> (total, text, image) scalar tensors for one batch."""
        out = net(*model_inputs(batch), vel_index=batch["vel_index"])
        return oneflow_loss(out, batch, cfg.image_loss_weight)

    def flops(self, batch, mc: ModelConfig) -> Optional[float]:
        """Training FLOPs (forward + backward) of one batch, or None when not counted."""
        return None


ONEFLOW = Objective()


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(cfg: TrainConfig, resume: bool = True, workers: int = 0, objective: Objective = ONEFLOW) -> Path:
    """Train (or resume) ``cfg``; with ``procs`` > 1, as that many data-parallel processes."""
    if cfg.procs < 1 or cfg.batch_size % cfg.procs:
        raise ValueError(f"procs must be >= 1 and divide batch_size ({cfg.batch_size}); got {cfg.procs}")
    if objective.name != cfg.objective:
        raise ValueError(f"config objective {cfg.objective!r} is not {objective.name!r}; "
                         "the autoregressive baseline trains with training.baseline.train")
    if cfg.procs == 1:
        return _train(0, cfg, resume, workers, 0, objective)
    import torch.multiprocessing as mp
    mp.spawn(_train, args=(cfg, resume, workers, _free_port(), objective), nprocs=cfg.procs, join=True)
    return Path(cfg.run_dir) / "ckpt.pt"


def _train(rank: int, cfg: TrainConfig, resume: bool, workers: int, port: int,
           objective: Objective = ONEFLOW) -> Path:
    world, main = cfg.procs, rank == 0
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if main:
        (run / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    torch.manual_seed(cfg.seed)
    dev = torch.device(cfg.device)
    model = objective.network(cfg.model).to(dev)
    ema = objective.network(cfg.model).to(dev)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "pos" not in n and "tok." not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99))
    step = 0
    flops = 0.0  # training FLOPs so far (when the objective counts them)
    ck = run / "ckpt.pt"
    if resume and ck.exists():
        st = torch_load(ck)
        model.load_state_dict(st["model"]); ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"]); step = st["step"]
        flops = st.get("flops", 0.0)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    log = open(run / "train.log", "a" if step > 0 else "w") if main else None  # a fresh run starts a fresh log

    def logln(s):
        if log:
            log.write(s + "\n"); log.flush()

    logln(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} start at step {step}/{cfg.steps}; "
          f"params {count_params(model)}; torch {torch.__version__}; threads {cfg.threads}; device {cfg.device}"
          + (f"; processes {world}" if world > 1 else ""))
    stream = objective.stream(cfg)
    bar = Progress(cfg.steps, step)
    acc = {"loss": 0.0, "text": 0.0, "img": 0.0, "n": 0}
    t0 = time.time()
    it = batches(stream, step, cfg.steps, workers, rank, world)
    while step < cfg.steps:
        batch = {k: v.to(dev) for k, v in next(it).items()}
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step)
        loss, lt, li = objective.loss(net, batch, cfg)
        step_flops = objective.flops(batch, cfg.model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if world > 1:  # report the whole batch's losses (the mean of the processes' shares)
            parts = torch.stack([loss.detach(), lt.detach(), li.detach()])
            dist.all_reduce(parts)
            loss, lt, li = parts / world
            if step_flops is not None:  # the whole batch's FLOPs: the sum of the shares
                share = torch.tensor([step_flops], dtype=torch.float64)
                dist.all_reduce(share)
                step_flops = float(share[0])
        if step_flops is not None:
            flops += step_flops
        with torch.no_grad():
            d = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)
        step += 1
        acc["loss"] += loss.item(); acc["text"] += lt.item(); acc["img"] += li.item(); acc["n"] += 1
        if main and (step % cfg.log_every == 0 or step == cfg.steps):
            n = acc["n"]
            msg = (f"loss {acc['loss'] / n:.4f} text {acc['text'] / n:.4f} img {acc['img'] / n:.4f} "
                   f"lr {lr_at(cfg, step - 1):.2e}")
            bar.show(step, msg)
            counted = f" flops {flops:.6e}" if step_flops is not None else ""
            logln(f"step {step} {msg}{counted} elapsed {time.time() - t0:.0f}s")
            acc = {"loss": 0.0, "text": 0.0, "img": 0.0, "n": 0}
        if main and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            tmp = run / "ckpt.pt.tmp"
            torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "step": step, "flops": flops, "config": cfg.to_dict()}, tmp)
            os.replace(tmp, ck)
        if main and step in cfg.keep_steps:  # a budget: its EMA weights, kept
            tmp = run / "ckpt.pt.tmp"
            torch.save({"ema": ema.state_dict(), "step": step, "flops": flops, "config": cfg.to_dict()}, tmp)
            os.replace(tmp, run / f"ckpt-{step}.pt")
    logln(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} done step {step}")
    if main:
        sys.stderr.write("\n")
        log.close()
    if world > 1:
        dist.destroy_process_group()
    return ck


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="training/configs/oneflow-toy-v1.json")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--run-dir", dest="run_dir")
    ap.add_argument("--threads", type=int, help="torch threads per process")
    ap.add_argument("--procs", type=int, help="data-parallel CPU processes (results equal a 1-process run's up to float rounding)")
    ap.add_argument("--device")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes preparing batches ahead (useful with --device cuda; results do not change)")
    a = ap.parse_args(argv)
    cfg = TrainConfig.from_json(a.config, steps=a.steps, run_dir=a.run_dir, threads=a.threads,
                                device=a.device, seed=a.seed, procs=a.procs)
    ck = train(cfg, resume=not a.fresh, workers=a.workers)
    print(f"checkpoint: {ck}")


if __name__ == "__main__":
    main()
