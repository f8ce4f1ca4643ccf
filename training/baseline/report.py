"""Write the comparison's report from the runs' logs and evaluator outputs.

    /usr/bin/python3 -m training.baseline.report [--collect training/runs/baseline-cpu --profile cpu]

``--collect RUNS`` first copies each run's ``train.log`` and ``train_config.json`` from ``RUNS/<run>/``
into ``training/baseline/results/<profile>/<run>/``, beside the evaluator outputs written there
(``eval-<step>.json``, ``tuning.json``, ``caption-steps.json``; ``NOTES.md``: prose on how the
profile's runs were run, kept by hand). Then, for every profile folder under
``results/``, it renders ``training/baseline/README.md`` (every number in it comes from those files),
the plots ``training/baseline/plots/<profile>-*.png`` and ``results/<profile>/parity.json``. Runs or
evaluations that are missing are left out and said so; it never fails for want of a run.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
RUNS = ("oneflow", "ar", "oneflow-sequential")
LABEL = {"oneflow": "OneFlow", "ar": "AR + FM baseline", "oneflow-sequential": "OneFlow, sequential schedule"}
METRICS = {"text_to_image": "text→image accuracy", "caption_vqa": "caption / VQA exact match",
           "interleaved_count": "interleaved image count", "interleaved_consistency": "interleaved consistency",
           "concurrent_agreement": "concurrent (mixed) agreement"}
SHORT = {"text_to_image": "text→image", "caption_vqa": "caption/VQA", "interleaved_count": "image count",
         "interleaved_consistency": "consistency", "concurrent_agreement": "concurrent agreement"}


# ----------------------------------------------------------------------------- reading


def read_log(path: Path) -> Dict:
    """device, wall seconds (the sum of each segment's last elapsed: a resumed run restarts its clock),
    and the step lines as (step, flops, loss, text, img)."""
    text = path.read_text() if path.exists() else ""
    dev = re.search(r"device (\w+)", text)
    wall, last = 0.0, 0.0
    steps = []
    for ln in text.splitlines():
        if ln.startswith("# ") and " start at step " in ln:
            wall, last = wall + last, 0.0
        m = re.match(r"step (\d+) loss (\S+) text (\S+) img (\S+) .*flops (\S+) elapsed (\d+)s", ln)
        if m:
            steps.append((int(m[1]), float(m[5]), float(m[2]), float(m[3]), float(m[4])))
            last = float(m[6])
    return {"device": dev.group(1) if dev else "?", "wall_s": wall + last, "steps": steps}


def read_run(d: Path) -> Optional[Dict]:
    if not (d / "train_config.json").exists():
        return None
    evals = {}
    for p in d.glob("eval-*.json"):
        r = json.loads(p.read_text())
        evals[r["step"]] = r
    opt = lambda name: json.loads((d / name).read_text()) if (d / name).exists() else None
    return {"config": json.loads((d / "train_config.json").read_text()), "log": read_log(d / "train.log"),
            "evals": dict(sorted(evals.items())), "tuning": opt("tuning.json"), "caption_steps": opt("caption-steps.json")}


# ----------------------------------------------------------------------------- parity


def flops_to_reach(points: Sequence[Tuple[float, float]], target: float) -> Tuple[str, Optional[float]]:
    """FLOPs at which a curve of (flops, value) points, in order of flops, first reaches ``target``,
    interpolated linearly in log FLOPs between the two budgets around the crossing.
    -> ("at", F) | ("at_most", F_first) (already there at the first budget) | ("beyond", F_last) (never)."""
    points = sorted(points)
    if not points:
        return "beyond", None
    if points[0][1] >= target:
        return "at_most", points[0][0]
    for (f0, y0), (f1, y1) in zip(points, points[1:]):
        if y1 >= target:
            frac = (target - y0) / (y1 - y0)
            return "at", math.exp(math.log(f0) + frac * (math.log(f1) - math.log(f0)))
    return "beyond", points[-1][0]


def curve(run: Dict, metric: str) -> List[Tuple[float, float]]:
    return [(e["train_flops"], e["checked"][metric]) for e in run["evals"].values()]


def parity(of: Dict, ar: Dict) -> Dict[str, Dict]:
    """Per metric: the baseline's best budget and the OneFlow FLOPs needed to match it, as a ratio."""
    out = {}
    for m in METRICS:
        ar_pts = curve(ar, m)
        if not ar_pts or not of["evals"]:
            continue
        best_f, best_y = max(ar_pts, key=lambda p: (p[1], -p[0]))
        kind, f = flops_to_reach(curve(of, m), best_y)
        out[m] = {"baseline_best": best_y, "baseline_flops": best_f, "oneflow_reach": kind, "oneflow_flops": f,
                  "ratio": f / best_f if f is not None else None,
                  "oneflow_best": max(y for _, y in curve(of, m))}
    return out


def ratio_text(p: Dict) -> str:
    r = p["ratio"]
    return {"at": f"{r:.2f}×", "at_most": f"≤ {r:.2f}× (reached at the first budget)",
            "beyond": f"> {r:.2f}× (not reached)"}[p["oneflow_reach"]]


# ----------------------------------------------------------------------------- plots


def plot_curves(runs: Dict[str, Dict], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.4), squeeze=False)
    for ax, (m, title) in zip(axes[0], METRICS.items()):
        for name, style in (("oneflow", "o-"), ("ar", "s-"), ("oneflow-sequential", "^")):
            if name in runs and runs[name]["evals"]:
                pts = sorted(curve(runs[name], m))
                ax.plot([f for f, _ in pts], [100 * y for _, y in pts], style, label=LABEL[name])
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training FLOPs")
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_caption_steps(of: Dict, ar: Optional[Dict], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cs = of["caption_steps"]["caption_steps"]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([c["steps"] for c in cs], [100 * c["exact_match"] for c in cs], "o-", label="OneFlow (sampling steps)")
    if ar and ar["evals"]:
        last = list(ar["evals"].values())[-1]
        ax.axhline(100 * last["checked"]["caption_vqa"], color="C1", ls="--",
                   label=f"AR baseline ({last['tasks']['caption']['cost']['forward_passes_per_generation']:.1f} forwards)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("OneFlow sampling steps")
    ax.set_ylabel("caption / VQA exact match %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def section(profile: str, runs: Dict[str, Dict], plots: Path) -> Tuple[List[str], Dict]:
    L = [f"## Profile `{profile}`", ""]
    summary: Dict = {"profile": profile}
    have = {k: v for k, v in runs.items() if v}
    missing = [LABEL[k] for k in RUNS if k not in have]
    if missing:
        L += ["Runs not present (left out): " + ", ".join(missing) + ".", ""]
    # runs
    L += ["### Runs", "", "| run | objective | model | steps trained | LR schedule | documents | device | wall | "
          "training FLOPs per step (mean) | budgets evaluated (steps) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in have.items():
        c, lg = r["config"], r["log"]
        m = c["model"]
        last = lg["steps"][-1] if lg["steps"] else (0, 0.0)
        per_step = last[1] / last[0] if last[0] else float("nan")
        sched = c.get("schedule_steps") or c["steps"]
        L.append(f"| {LABEL[k]} | {c.get('objective', 'oneflow')}, images {c.get('image_schedule', 'concurrent')} | "
                 f"{m['d_model']}×{m['n_layers']}, convs {m['chans'][0]}/{m['chans'][1]} | {last[0]} | cosine over {sched} | "
                 f"{last[0] * c['batch_size'] / 1e6:.3f}M | {lg['device']} | {lg['wall_s'] / 60:.1f} min | "
                 f"{per_step:.3e} | {', '.join(str(s) for s in r['evals']) or '—'} |")
        summary.setdefault("runs", {})[k] = {"steps": last[0], "wall_s": lg["wall_s"], "device": lg["device"],
                                             "flops_per_step": per_step}
    L.append("")
    # sampler tuning
    L += ["### Sampler settings (tuned on validation prompts)", ""]
    for k, r in have.items():
        t = r["tuning"]
        if not t:
            L.append(f"- {LABEL[k]}: not tuned (defaults: temperature 0.3, w_image 1).")
            continue
        grid = "; ".join(f"T {g['temperature']:g}, w_image {g['w_image']:g}: {pct(g['mean'])}" for g in t["grid"])
        L.append(f"- {LABEL[k]} (on its step-{t['step']} weights, {t['validation']['n_per_task']} validation prompts "
                 f"per task, seed {t['validation']['seed']}, {t['validation']['images']} images): chosen temperature "
                 f"{t['chosen']['temperature']:g}, w_image {t['chosen']['w_image']:g}; mean of the five checks per "
                 f"setting: {grid}.")
    L.append("")
    # per budget
    L += ["### Every budget on the held-out set", "", "| run | step | training FLOPs | " + " | ".join(METRICS.values())
          + " |", "|---|---|---|" + "---|" * len(METRICS)]
    for k, r in have.items():
        for s, e in r["evals"].items():
            L.append(f"| {LABEL[k]} | {s} | {e['train_flops']:.3e} | "
                     + " | ".join(pct(e["checked"][m]) for m in METRICS) + " |")
    first = next((e for r in have.values() for e in r["evals"].values()), None)
    if first:
        n = first["n_per_task"]
        L += ["", f"{n} held-out prompts per task (seed {first['seed']}), the same prompts and draw seeds for every "
              f"row; at n = {n} a value near 70% has a standard error of about "
              f"{100 * math.sqrt(0.7 * 0.3 / n):.1f} points."]
    L.append("")
    if (plots / f"{profile}-curves.png").exists():
        L += [f"![metrics vs training FLOPs](plots/{profile}-curves.png)", ""]
    # parity
    if "oneflow" in have and "ar" in have:
        par = parity(have["oneflow"], have["ar"])
        summary["parity"] = par
        if par:
            L += ["### Parity: OneFlow FLOPs needed to match the baseline's best", "",
                  "Ratio = OneFlow training FLOPs at which its curve first reaches the baseline's best value "
                  "(interpolated in log FLOPs between budgets) ÷ the baseline's training FLOPs at that best "
                  "budget. Below 1: OneFlow needs less compute.", "",
                  "| metric | baseline best (FLOPs) | OneFlow best | ratio |", "|---|---|---|---|"]
            for m, p in par.items():
                L.append(f"| {METRICS[m]} | {pct(p['baseline_best'])} ({p['baseline_flops']:.3e}) | "
                         f"{pct(p['oneflow_best'])} | {ratio_text(p)} |")
            L.append("")
            summary["headline"] = headline(par)
            L += [f"**Headline:** {summary['headline']}", ""]
    # ablation
    if "oneflow-sequential" in have and "oneflow" in have:
        seq = have["oneflow-sequential"]["evals"]
        conc = have["oneflow"]["evals"]
        common = [s for s in seq if s in conc]
        if common:
            L += ["### Ablation: concurrent vs sequential image schedule (same steps, same LR schedule)", "",
                  "| schedule | step | " + " | ".join(METRICS.values()) + " |", "|---|---|" + "---|" * len(METRICS)]
            for s in common:
                for name, ev in (("concurrent", conc[s]), ("sequential", seq[s])):
                    L.append(f"| {name} | {s} | " + " | ".join(pct(ev["checked"][m]) for m in METRICS) + " |")
            L += ["", "Sequential: images are born during the text as before, but every image's clock starts at "
                  "τ = 1 (text complete), in training and in sampling (`training.baseline.sample.sequential_step`).", ""]
    # caption steps
    if "oneflow" in have and have["oneflow"]["caption_steps"]:
        cs = have["oneflow"]["caption_steps"]
        L += [f"### Captioning vs OneFlow sampling steps (step-{cs['step']} weights, {cs['n_per_task']} held-out "
              "caption prompts)", "", "| sampling steps | caption / VQA exact match | forward passes per caption |",
              "|---|---|---|"]
        for c in cs["caption_steps"]:
            L.append(f"| {c['steps']} | {pct(c['exact_match'])} | {c['cost']['forward_passes_per_generation']:.1f} |")
        ar = have.get("ar")
        if ar and ar["evals"]:
            last_step, last = list(ar["evals"].items())[-1]
            L += ["", f"The baseline (step {last_step}) on the same prompts: {pct(last['checked']['caption_vqa'])} "
                  f"with {last['tasks']['caption']['cost']['forward_passes_per_generation']:.1f} forward passes per "
                  "caption (one per token, the end token included)."]
        L.append("")
        if (plots / f"{profile}-caption-steps.png").exists():
            L += [f"![caption vs steps](plots/{profile}-caption-steps.png)", ""]
    # sampling cost
    cost_rows = []
    for k in ("oneflow", "ar"):
        r = have.get(k)
        if r and r["evals"]:
            s, e = list(r["evals"].items())[-1]
            for task in ("draw", "caption", "interleaved", "mixed"):
                c = e["tasks"][task]["cost"]
                cost_rows.append(f"| {LABEL[k]} (step {s}) | {task} | {c['forward_passes_per_generation']:.1f} | "
                                 f"{c['forward_flops_per_generation'] / 1e9:.2f} | {1000 * c['seconds_per_generation']:.0f} |")
    if cost_rows:
        dev = first["device"] if first else "?"
        L += ["### Sampling cost per generation (held-out prompts, the tuned settings)", "",
              f"Torch on {dev}, {first['threads'] if first else '?'} thread, generations batched up to 64 per "
              "forward pass (as the evaluator runs them); forward passes count guidance twins; no KV cache for "
              "either model (each pass recomputes the sequence).", "",
              "| model | task | forward passes | forward GFLOPs | wall ms |", "|---|---|---|---|---|"] + cost_rows + [""]
    return L, summary


def headline(par: Dict[str, Dict]) -> str:
    parts = [f"{SHORT[m]} {ratio_text(p).split(' (')[0]}" for m, p in par.items()]
    won = sum(1 for p in par.values() if p["oneflow_reach"] in ("at", "at_most") and p["ratio"] <= 1.0)
    return (f"OneFlow matched the baseline's best with at most the baseline's training FLOPs on {won} of "
            f"{len(par)} metrics; FLOPs ratios (OneFlow ÷ baseline): " + ", ".join(parts) + ".")


COMMANDS = """```sh
# the whole CPU pipeline (train, tune, evaluate, report); resumable, logs under training/runs/baseline-cpu/
bash training/baseline/run_cpu.sh
# the same at the full v1 recipe size on a GPU (one call; BASELINE_TINY=1 rehearses it on CPU in minutes)
bash training/baseline/device.sh
# re-render this file from training/baseline/results/ alone
/usr/bin/python3 -m training.baseline.report
```"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collect", help="a runs folder (training/runs/baseline-<profile>) to copy logs and configs from")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--out", default=str(HERE / "README.md"))
    a = ap.parse_args(argv)
    results = Path(a.results)
    if a.collect:
        for k in RUNS:
            src = Path(a.collect) / k
            if (src / "train_config.json").exists():
                dst = results / a.profile / k
                dst.mkdir(parents=True, exist_ok=True)
                for name in ("train.log", "train_config.json"):
                    if (src / name).exists():
                        shutil.copy(src / name, dst / name)
    out = Path(a.out)
    plots = out.parent / "plots"
    plots.mkdir(exist_ok=True)
    body: List[str] = []
    for prof in sorted(p for p in results.iterdir() if p.is_dir()) if results.exists() else []:
        runs = {k: read_run(prof / k) for k in RUNS}
        runs = {k: v for k, v in runs.items() if v}
        plot_curves(runs, plots / f"{prof.name}-curves.png")
        if "oneflow" in runs and runs["oneflow"]["caption_steps"]:
            plot_caption_steps(runs["oneflow"], runs.get("ar"), plots / f"{prof.name}-caption-steps.png")
        lines, summary = section(prof.name, runs, out.parent)
        if (prof / "NOTES.md").exists():  # how this profile's runs were actually run (prose, kept by hand)
            lines[2:2] = (prof / "NOTES.md").read_text().rstrip("\n").split("\n") + [""]
        body += lines
        (prof / "parity.json").write_text(json.dumps(summary, indent=1) + "\n")
    intro = (HERE / "INTRO.md").read_text().rstrip("\n").split("\n") if (HERE / "INTRO.md").exists() else []
    text = ["# OneFlow vs an autoregressive + flow-matching baseline at equal training FLOPs", "",
            "Generated by `/usr/bin/python3 -m training.baseline.report` from `training/baseline/results/` "
            "(do not edit by hand; the prose it keeps is in `INTRO.md`).", ""] + intro + [""] + body + \
           ["## Reproduce", "", COMMANDS, ""]
    out.write_text("\n".join(text))
    print("\n".join(body))


if __name__ == "__main__":
    main()
