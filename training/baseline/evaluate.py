"""Judge checkpoints of the comparison with the evaluator's prompts, scoring and judge.

    # held-out evaluation of one budget (settings: the model's tuning file)
    /usr/bin/python3 -m training.baseline.evaluate --ckpt training/runs/baseline-cpu/ar/ckpt-2000.pt \\
        --settings training/baseline/results/cpu/ar/tuning.json --out training/baseline/results/cpu/ar/eval-2000.json
    # sampler settings chosen on validation prompts (another seed, train-split images)
    /usr/bin/python3 -m training.baseline.evaluate --tune --ckpt ... --out .../tuning.json
    # OneFlow's caption / VQA exact match against its number of sampling steps
    /usr/bin/python3 -m training.baseline.evaluate --caption-steps 2,4,6,8,16,32 --ckpt ... --settings ... --out ...

Prompts come from ``training.evaluate.make_prompts`` (held-out: test-split images, seed 1234; the
evaluator's), generation ``i`` of a task draws from ``Draws(seed·100000 + i)`` as in
``training.evaluate.run_task``, and ``training.evaluate.score`` with its CNN judge scores the
results, so both models get the identical evaluation. OneFlow samples with ``training.sample``,
the sequential ablation and the baseline with ``training.baseline.sample``. Each task also records
its sampling cost: forward passes (guidance twins included), forward FLOPs and wall seconds per
generation, batched as the evaluator batches (up to 64 generations per forward pass), on torch,
one thread.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from training.baseline.model import load_run_model
from training.baseline.sample import ARParams, CountingRunner, ar_initial_state, run_ar_many, run_sequential_many
from training.data import VOCAB, DocSampler, load_images
from training.evaluate import checked_metrics, get_classifier, make_prompts, score
from training.model import ModelConfig
from training.model_io import torch_load
from training.sample import Draws, SamplerParams, TorchRunner, initial_state, run_many

TASKS = ("draw", "caption", "interleaved", "mixed")
EVAL_SEED = 1234  # training.evaluate's held-out seed
VALIDATION_SEED = 777  # training.tune_sampler's: validation prompts never reuse the held-out ones
MAX_LEN, MAX_IMAGES = 40, 6  # the evaluator's caps for v1 models (max_tokens, max_images)
# OneFlow's settings that are not tuned (the v1 CPU recipe's sampler section): 32 steps per clock,
# text guidance off; the baseline takes 32 Euler steps per image
FIXED = {"steps": 32, "w": 1.0, "top_k": 0}


def kind_of(cfg: dict) -> str:
    """'oneflow', 'oneflow-sequential' or 'ar' from a run's training config."""
    if cfg.get("objective", "oneflow") == "ar":
        return "ar"
    return "oneflow-sequential" if cfg.get("image_schedule") == "sequential" else "oneflow"


def generate(kind: str, docs, runner, settings: Dict, seed: int):
    """The generations of ``docs`` (``make_prompts`` output) under one sampler setting."""
    draws = [Draws(seed * 100_000 + i) for i in range(len(docs))]
    if kind == "ar":
        prm = ARParams(steps=settings["steps"], temperature=settings["temperature"], top_k=settings["top_k"],
                       max_len=MAX_LEN, max_images=MAX_IMAGES, w_image=settings["w_image"])
        return run_ar_many([ar_initial_state(d[0]) for d in docs], runner, prm, draws)
    prm = SamplerParams(steps=settings["steps"], w=settings["w"], temperature=settings["temperature"],
                        top_k=settings["top_k"], max_len=MAX_LEN, max_images=MAX_IMAGES, w_image=settings["w_image"])
    states = [initial_state(d[0]) for d in docs]
    if kind == "oneflow-sequential":
        return run_sequential_many(states, runner, prm, draws)
    return run_many(states, runner, prm, draws)


def run_tasks(kind: str, runner, mc: ModelConfig, docs: Dict[str, list], settings: Dict, seed: int, clf) -> Dict:
    """Score every task's docs; each task's result gets a ``cost`` entry."""
    res = {}
    for task, task_docs in docs.items():
        counting = CountingRunner(runner, mc)
        t0 = time.time()
        states = generate(kind, task_docs, counting, settings, seed)
        seconds = time.time() - t0
        res[task] = score(task, task_docs, states, clf)
        n = len(task_docs)
        res[task]["cost"] = {"forward_passes_per_generation": counting.rows / n,
                             "forward_flops_per_generation": counting.flops / n,
                             "seconds_per_generation": seconds / n, "batched_calls": counting.calls}
        res[task]["samples"] = [" ".join(VOCAB[t] for t in s.tokens) for s in states[:8]]
    return res


def chosen_settings(path: str) -> Dict:
    tuning = json.loads(Path(path).read_text())
    return {**FIXED, **tuning["chosen"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=100, help="prompts per task (validation: per task and setting)")
    ap.add_argument("--settings", help="a tuning.json whose 'chosen' settings to use (held-out evaluation)")
    ap.add_argument("--tune", action="store_true", help="choose temperature and w_image on validation prompts")
    ap.add_argument("--temperature", default="0.3,1.0", help="--tune: temperatures to try")
    ap.add_argument("--w-image", default="1,3,6", help="--tune: image guidance weights to try")
    ap.add_argument("--caption-steps", help="comma-separated OneFlow step counts for the caption curve")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, cfg = load_run_model(a.ckpt)
    kind = kind_of(cfg)
    runner = TorchRunner(model, a.device)
    mc = model.cfg
    bank = load_images(cfg["seed"] or 0)
    clf = get_classifier(0)
    t0 = time.time()
    state = torch_load(a.ckpt)
    out: Dict = {"ckpt": a.ckpt, "kind": kind, "step": state["step"], "train_flops": state.get("flops"),
                 "device": a.device, "threads": a.threads}
    if a.tune:
        val = DocSampler(bank, "train")
        docs = {task: make_prompts(task, a.n, VALIDATION_SEED, val) for task in TASKS}
        grid: List[Dict] = []
        for temp, wi in itertools.product(floats(a.temperature), floats(a.w_image)):
            settings = {**FIXED, "temperature": temp, "w_image": wi}
            res = run_tasks(kind, runner, mc, docs, settings, VALIDATION_SEED, clf)
            m = checked_metrics(res)
            grid.append({"temperature": temp, "w_image": wi, **m, "mean": sum(m.values()) / len(m)})
            print(f"{kind} T {temp:g} w_image {wi:g}: mean {grid[-1]['mean']:.3f} ({time.time() - t0:.0f}s)", flush=True)
        # highest mean of the checked metrics; ties to the weaker guidance, then the lower temperature
        best = max(grid, key=lambda r: (round(r["mean"], 9), -abs(r["w_image"] - 1), -r["temperature"]))
        out.update(validation={"seed": VALIDATION_SEED, "images": "train split", "n_per_task": a.n},
                   objective="mean of the five checked metrics", fixed=FIXED, grid=grid,
                   chosen={"temperature": best["temperature"], "w_image": best["w_image"]})
    elif a.caption_steps:
        if kind == "ar":
            ap.error("--caption-steps is for OneFlow checkpoints (the baseline's steps are its tokens)")
        base = chosen_settings(a.settings) if a.settings else dict(FIXED, temperature=0.3, w_image=1.0)
        docs = {"caption": make_prompts("caption", a.n, EVAL_SEED, DocSampler(bank, "test"))}
        curve = []
        for n_steps in floats(a.caption_steps):
            res = run_tasks(kind, runner, mc, docs, {**base, "steps": int(n_steps)}, EVAL_SEED, clf)["caption"]
            curve.append({"steps": int(n_steps), "exact_match": res["exact_match"], "cost": res["cost"]})
            print(f"{kind} caption at {int(n_steps)} steps: {res['exact_match']:.3f}", flush=True)
        out.update(settings=base, n_per_task=a.n, seed=EVAL_SEED, caption_steps=curve)
    else:
        settings = chosen_settings(a.settings) if a.settings else dict(FIXED, temperature=0.3, w_image=1.0)
        test = DocSampler(bank, "test")
        docs = {task: make_prompts(task, a.n, EVAL_SEED, test) for task in TASKS}
        res = run_tasks(kind, runner, mc, docs, settings, EVAL_SEED, clf)
        out.update(settings=settings, n_per_task=a.n, seed=EVAL_SEED, tasks=res, checked=checked_metrics(res))
        print(kind, state["step"], json.dumps(out["checked"]), flush=True)
    out["eval_seconds"] = round(time.time() - t0, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


def floats(s: str) -> Sequence[float]:
    return [float(x) for x in s.split(",") if x.strip()]


if __name__ == "__main__":
    main()
