"""Choose a model's sampler defaults (text guidance w, image guidance w_image) on validation prompts.

    /usr/bin/python3 -m training.tune_sampler --model models/oneflow-toy-v1 --write

Every setting of the grid samples the evaluator's four tasks on *validation* prompts: another seed
than the evaluator's, and images from the train split for the image → text prompts, so the test
prompts and test images the evaluator reports on play no part in the choice. The score of a setting
is the mean of the five checked metrics (text→image accuracy, caption exact match, image count,
consistency, concurrent agreement); ties go to the weaker guidance. Writes
``<model>/sampler_tuning.json`` (every setting and its metrics) and, with ``--write``, the chosen
``w`` / ``w_image`` into ``<model>/config.json`` ``sampler_defaults``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from training.data import DocSampler, load_images
from training.evaluate import checked_metrics, get_classifier, make_prompts, run_task, score
from training.sample import OrtRunner, params_from_config

EVAL_SEED = 1234  # training.evaluate's default seed: validation must not reuse its prompts
TASKS = ("draw", "caption", "interleaved", "mixed")


def choose(rows: Sequence[Dict]) -> Dict:
    """Highest mean of the checked metrics; ties to the smaller |w − 1| + |w_image − 1|."""
    return max(rows, key=lambda r: (round(r["mean"], 9), -(abs(r["w"] - 1) + abs(r["w_image"] - 1))))


def parse_floats(s: str) -> List[float]:
    try:
        vals = [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}")
    if not vals or any(not (0 <= v <= 20) for v in vals):
        raise argparse.ArgumentTypeError(f"expected numbers in [0, 20], got {s!r}")
    return vals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/oneflow-toy-v1")
    ap.add_argument("--w", type=parse_floats, default=[1.0, 1.5], help="text guidance values to try")
    ap.add_argument("--w-image", type=parse_floats, default=[1.0, 2.0, 3.0, 4.0, 6.0], help="image guidance values to try")
    ap.add_argument("--n", type=int, default=100, help="validation prompts per task and setting")
    ap.add_argument("--seed", type=int, default=777, help=f"validation prompt seed (must differ from {EVAL_SEED})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="store the chosen w / w_image in config.json")
    a = ap.parse_args(argv)
    if a.seed == EVAL_SEED:
        ap.error(f"--seed {EVAL_SEED} is the evaluator's test seed; validation needs another")
    if a.n < 1:
        ap.error("--n must be ≥ 1")
    md = Path(a.model)
    cfg_path = md / "config.json"
    if not cfg_path.exists():
        ap.error(f"{cfg_path} not found")
    cfg = json.loads(cfg_path.read_text())
    torch.set_num_threads(a.threads)
    runner = OrtRunner(str(md / "model.onnx"), threads=a.threads)
    val = DocSampler(load_images(cfg["training"]["seed"] or 0), "train")
    clf = get_classifier(0)
    docs = {task: make_prompts(task, a.n, a.seed, val) for task in TASKS}
    grid = list(itertools.product(a.w, a.w_image))
    rows: List[Dict] = []
    t0 = time.time()
    for k, (w, wi) in enumerate(grid):
        prm = params_from_config(cfg, w=w, w_image=wi)
        res = {task: score(task, docs[task], run_task(task, docs[task], runner, prm, a.seed), clf) for task in TASKS}
        m = checked_metrics(res)
        row: Dict = {"w": w, "w_image": wi, **m, "mean": sum(m.values()) / len(m)}
        rows.append(row)
        done = time.time() - t0
        eta = done / (k + 1) * (len(grid) - k - 1)
        print(f"[{k + 1}/{len(grid)}] w {w:g} w_image {wi:g}: "
              + " ".join(f"{key} {v:.3f}" for key, v in row.items() if key not in ("w", "w_image"))
              + f"  ({done:.0f}s, eta {eta:.0f}s)", flush=True)
    best = choose(rows)
    out = {"model": cfg["name"], "onnx_sha256": cfg["onnx_sha256"], "validation": {
        "seed": a.seed, "n_per_task": a.n, "images": "train split", "steps": params_from_config(cfg).steps,
        "temperature": params_from_config(cfg).temperature},
        "objective": "mean of the five checked metrics", "grid": rows,
        "chosen": {"w": best["w"], "w_image": best["w_image"]},
        "command": "/usr/bin/python3 -m training.tune_sampler --model " + str(md) + (" --write" if a.write else "")}
    (md / "sampler_tuning.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"chosen: w {best['w']:g}, w_image {best['w_image']:g} (mean {best['mean']:.3f}); "
          f"every setting in {md / 'sampler_tuning.json'}")
    if a.write:
        cfg["sampler_defaults"] = {**cfg.get("sampler_defaults", {}), "w": best["w"], "w_image": best["w_image"]}
        cfg_path.write_text(json.dumps(cfg, indent=1))  # as training/export.py writes it
        print(f"wrote sampler_defaults to {cfg_path}")


if __name__ == "__main__":
    main()
