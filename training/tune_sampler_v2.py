"""Choose a version-2 model's sampler defaults (text guidance w, image guidance w_image) on validation prompts.

    /usr/bin/python3 -m training.tune_sampler_v2 --model models/oneflow-toy-v2 --write

As ``training.tune_sampler`` for version 1: every setting of the grid samples the evaluator's tasks on
*validation* prompts — another seed than the evaluator's, train-split images, training phrasings and
training colour×class pairs only — so neither the test prompts and images nor the held-out language and
pairs play any part in the choice. The score of a setting is the mean of ``OBJECTIVE``'s metrics; ties
go to the weaker guidance. Writes ``<model>/sampler_tuning.json`` and, with ``--write``, the chosen
``w`` / ``w_image`` into ``<model>/config.json`` ``sampler_defaults``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Dict, List

import torch

from training.data import load_images
from training.evaluate_v2 import ModelV2, generate, make_prompts, score
from training.judge_v2 import get_judge
from training.sample import params_from_config
from training.tune_sampler import EVAL_SEED, choose, parse_floats
from training.world_v2 import DocSamplerV2

# (task, metric) pairs averaged into a setting's score
OBJECTIVE = [("draw", "class_and_colour"), ("caption", "exact_match"), ("colour", "accuracy"), ("parity", "right"),
             ("interleaved", "image_count"), ("interleaved", "consistency"), ("reason", "right"), ("mixed", "agreement")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/oneflow-toy-v2")
    ap.add_argument("--w", type=parse_floats, default=[1.0, 1.5], help="text guidance values to try")
    ap.add_argument("--w-image", type=parse_floats, default=[1.0, 2.0, 4.0], help="image guidance values to try")
    ap.add_argument("--n", type=int, default=60, help="validation prompts per task and setting")
    ap.add_argument("--seed", type=int, default=777, help=f"validation prompt seed (must differ from {EVAL_SEED})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="store the chosen w / w_image in config.json")
    a = ap.parse_args(argv)
    if a.seed == EVAL_SEED:
        ap.error(f"--seed {EVAL_SEED} is the evaluator's test seed; validation needs another")
    md = Path(a.model)
    torch.set_num_threads(a.threads)
    model = ModelV2(md, a.threads)
    val = DocSamplerV2(load_images(model.cfg["training"]["seed"] or 0), "train")
    judge = get_judge(0)
    tasks = sorted({t for t, _ in OBJECTIVE})
    docs = {t: make_prompts(t, a.n, a.seed, val, "in_distribution") for t in tasks}
    grid = list(itertools.product(a.w, a.w_image))
    rows: List[Dict] = []
    t0 = time.time()
    for k, (w, wi) in enumerate(grid):
        prm = params_from_config(model.cfg, w=w, w_image=wi)
        res = {t: score(t, docs[t], generate(model, docs[t], prm, a.seed), model, judge) for t in tasks}
        metrics = {f"{t}.{m}": res[t][m] for t, m in OBJECTIVE}
        rows.append({"w": w, "w_image": wi, **metrics, "mean": sum(metrics.values()) / len(metrics)})
        done = time.time() - t0
        print(f"[{k + 1}/{len(grid)}] w {w:g} w_image {wi:g}: " + " ".join(f"{key} {v:.3f}" for key, v in rows[-1].items()
                                                                           if key not in ("w", "w_image"))
              + f"  ({done:.0f}s, eta {done / (k + 1) * (len(grid) - k - 1):.0f}s)", flush=True)
    best = choose(rows)
    out = {"model": model.cfg["name"], "onnx_sha256": model.cfg["onnx_sha256"],
           "validation": {"seed": a.seed, "n_per_task": a.n, "images": "train split", "phrasings": "training",
                          "pairs": "training", "steps": params_from_config(model.cfg).steps,
                          "temperature": params_from_config(model.cfg).temperature},
           "objective": "mean of " + ", ".join(f"{t}.{m}" for t, m in OBJECTIVE), "grid": rows,
           "chosen": {"w": best["w"], "w_image": best["w_image"]},
           "command": f"/usr/bin/python3 -m training.tune_sampler_v2 --model {md}" + (" --write" if a.write else "")}
    (md / "sampler_tuning.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"chosen: w {best['w']:g}, w_image {best['w_image']:g} (mean {best['mean']:.3f})")
    if a.write:
        cfg_path = md / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["sampler_defaults"] = {**cfg["sampler_defaults"], "w": best["w"], "w_image": best["w_image"]}
        cfg_path.write_text(json.dumps(cfg, indent=1))  # as training/tiny_v2.write_config_v2 writes it
        print(f"wrote sampler_defaults to {cfg_path}")


if __name__ == "__main__":
    main()
