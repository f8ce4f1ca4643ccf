"""Evaluate a shipped contract-version-2 model of the colour world (``training.world_v2``) on held-out data.

    /usr/bin/python3 -m training.evaluate_v2 --model models/oneflow-toy-v2

Everything goes through the model directory as the server uses it: prompts are *text* tokenized by its
tokenizer.json, prompt images are encoded by encoder.onnx, generated latents decoded by decoder.onnx,
model.onnx runs in ONNX Runtime under the reference sampler. Test-split images only. Three prompt sets
per task, side by side:
  in-distribution    training phrasings, training colour×class pairs
  held-out phrasing  only the phrasings no training document uses
  held-out pairs     only the colour×class pairs no training image has
Generated images are judged by ``training.judge_v2`` (a CNN trained on the train split; the nearest
palette colour of the object). Writes ``<model>/eval.json``, ``<model>/EVAL.md``, ``<model>/grids/*.png``.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from training.contract import decode_text, encode_prompt, load_tokenizer, spec_from_config
from training.data import DIGITS, FOOTWEAR, Img, load_images
from training.judge_v2 import background_of, classify, colour_of, get_judge, test_images
from training.model_io import write_grid
from training.sample import (Draws, ImageSlot, OrtRunner, SamplerParams, State, TorchRunner, ort_session, pack,
                             params_from_config, prompt_state, run_many)
from training.world_v2 import (CANONICAL, COLOURS, HELDOUT_PAIRS, DocSamplerV2, canonical_np, prompt_text,
                               target_text)

EVAL_TASKS = ["draw", "caption", "colour", "parity", "interleaved", "reason", "mixed"]
VARIANTS = ["in_distribution", "heldout_phrasing", "heldout_pairs"]
PAIR_TASKS = ["draw", "caption", "colour", "parity"]  # tasks whose prompt names one coloured object
HEADLINE = {"draw": "class_and_colour", "caption": "exact_match", "colour": "accuracy", "parity": "right",
            "interleaved": "image_count", "reason": "right", "mixed": "agreement", "describe": "names_right_class"}
MAX_BYTES = 20_000_000


# ----------------------------------------------------------------------------- the model directory


class ModelV2:
    """A contract-version-2 directory as the server uses it (or, with ``ckpt``, PyTorch weights in its place)."""

    def __init__(self, model_dir: Path, threads: int = 2, ckpt: Optional[str] = None, device: str = "cpu"):
        self.dir = Path(model_dir)
        self.cfg = json.loads((self.dir / "config.json").read_text())
        self.tokenizer = load_tokenizer(self.dir / self.cfg["tokenizer"]["file"])
        self.spec = spec_from_config(self.cfg, self.tokenizer)
        if ckpt:
            from training.model_io import load_model
            self.runner = TorchRunner(load_model(ckpt), device)
        else:
            self.runner = OrtRunner(str(self.dir / self.cfg["onnx_file"]), threads=threads)
        self.encoder = ort_session(self.dir / self.cfg["encoder"]["file"], threads)
        self.decoder = ort_session(self.dir / self.cfg["decoder"]["file"], threads)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """pixels [N, 3, 32, 32] -> latents [N, C, h, w]."""
        return self.encoder.run(["latent"], {"pixels": pixels.astype(np.float32)})[0]

    def decode(self, latents: Sequence[np.ndarray]) -> np.ndarray:
        """latents [N, C, h, w] -> pixels [N, 3, 32, 32] in [-1, 1]."""
        if len(latents) == 0:
            return np.zeros((0, 3, 32, 32), np.float32)
        return np.clip(self.decoder.run(["pixels"], {"latent": np.stack(latents).astype(np.float32)})[0], -1, 1)

    def initial(self, prompt: Sequence) -> State:
        """The prompt as a user sends it: its text (``<image>`` where images go) and its images' latents."""
        images = [it.pixels for it in prompt if isinstance(it, Img)]
        latents = list(self.encode(np.stack(images))) if images else []
        return prompt_state(encode_prompt(self.tokenizer, prompt_text(prompt)), latents, self.spec)

    def output(self, s: State) -> Tuple[str, List[Tuple[str, Optional[int]]], List[np.ndarray]]:
        """(target text, segments [(text before an image or the tail, image index or None)], generated latents)."""
        ids = s.tokens[s.prompt_len:]
        segments, current, k = [], [], 0
        for x in ids:
            if x == self.spec.image:
                segments.append((decode_text(self.tokenizer, current).strip(), k))
                current, k = [], k + 1
            else:
                current.append(x)
        segments.append((decode_text(self.tokenizer, current).strip(), None))
        latents = [im.latent for im in s.images[s.n_prompt_images:]]
        return decode_text(self.tokenizer, ids).strip(), segments, latents


# ----------------------------------------------------------------------------- reading answers

_NAMES = sorted(((name, c) for c, name in enumerate(CANONICAL)), key=lambda x: -len(x[0]))


def find_object(text: str) -> Tuple[Optional[int], Optional[int]]:
    """(class, colour) of the last object named in ``text`` ("a red coat", "seven"), None where absent."""
    words = re.findall(r"[a-z-]+", text.lower())
    joined = " " + " ".join(words) + " "
    best, cls = -1, None
    for name, c in _NAMES:
        k = joined.rfind(" " + name + " ")
        if k > best:
            best, cls = k, c
    colour = None
    for w in words:
        if w in COLOURS:
            colour = COLOURS.index(w)
    return cls, colour


def last_of(text: str, options: Sequence[str]) -> Optional[str]:
    words = re.findall(r"[a-z]+", text.lower())
    found = [w for w in words if w in options]
    return found[-1] if found else None


# ----------------------------------------------------------------------------- prompts


def samplers(bank, split: str = "test") -> Dict[str, DocSamplerV2]:
    return {"in_distribution": DocSamplerV2(bank, split), "heldout_phrasing": DocSamplerV2(bank, split, phrasing="heldout"),
            "heldout_pairs": DocSamplerV2(bank, split, pairs="heldout")}


def make_prompts(task: str, n: int, seed: int, sampler: DocSamplerV2, variant: str):
    """``n`` documents of ``task``: classes cycled (or, for held-out pairs, the pairs cycled), seeded."""
    rng = np.random.default_rng([seed, 99, (EVAL_TASKS + ["describe"]).index(task), VARIANTS.index(variant)])
    pairs = sorted((c, k) for c, k in HELDOUT_PAIRS if task != "parity" or k < 10)
    out = []
    for i in range(n):
        if variant == "heldout_pairs" and task in PAIR_TASKS:
            colour, cls = pairs[i % len(pairs)]
            out.append(sampler.task(task)(rng, cls=cls, colour=colour))
        elif task in ("draw", "caption", "colour", "describe"):
            out.append(sampler.task(task)(rng, cls=i % 20))
        elif task == "parity":
            out.append(sampler.parity(rng, cls=i % 10))
        elif task == "interleaved":
            k = i % 5
            out.append(sampler.count(rng) if k < 2 else sampler.listing(rng) if k < 4 else sampler.arith(rng))
        elif task == "reason":
            out.append(sampler.reason(rng))
        elif task == "mixed":
            out.append(sampler.mixed(rng, domain=i % 3))
    return out


def generate(model: ModelV2, docs, prm: SamplerParams, seed: int) -> List[State]:
    states = [model.initial(d[0]) for d in docs]
    return run_many(states, model.runner, prm, [Draws(seed * 100_000 + i) for i in range(len(docs))])


# ----------------------------------------------------------------------------- scores


def mean(xs) -> float:
    xs = list(xs)
    return float(np.mean(xs)) if xs else float("nan")


def score(task: str, docs, states: List[State], model: ModelV2, judge) -> Dict:
    outs = [model.output(s) for s in states]
    refs = [target_text(d[1]).strip() for d in docs]
    res: Dict = {"n": len(states)}
    if task == "draw":
        first = [o[2][0] if o[2] else np.zeros(model.spec.latent_shape, np.float32) for o in outs]
        pixels = model.decode(first)
        has = np.array([bool(o[2]) for o in outs])
        cls_ok = has & (classify(judge, pixels) == np.array([d[2]["cls"] for d in docs]))
        col_ok = has & (colour_of(pixels) == np.array([d[2]["colour"] for d in docs]))
        bg = [(k, d[2]["background"]) for k, d in enumerate(docs) if d[2]["background"] != 0]
        res.update(class_accuracy=mean(cls_ok), colour_accuracy=mean(col_ok), class_and_colour=mean(cls_ok & col_ok),
                   exactly_one_image=mean(len(o[2]) == 1 for o in outs),
                   background_accuracy=mean(has[k] and background_of(pixels[k]) == b for k, b in bg),
                   prompts_with_background=len(bg))
    elif task in ("caption", "colour", "parity"):
        gen = [o[0] for o in outs]
        em = np.array([g == r for g, r in zip(gen, refs)])
        res.update(exact_match=mean(em))
        prompt_px = np.stack([next(it.pixels for it in d[0] if isinstance(it, Img)) for d in docs])
        judged_cls, judged_col = classify(judge, prompt_px), colour_of(prompt_px)
        if task == "caption":
            kinds = [d[2]["kind"] for d in docs]
            res["exact_match_by_kind"] = {k: mean(e for e, q in zip(em, kinds) if q == k) for k in sorted(set(kinds))}
            judge_answers = [judge_caption(d, c, col) for d, c, col in zip(docs, judged_cls, judged_col)]
            res["judge_exact_match"] = mean(a == r for a, r in zip(judge_answers, refs))
        elif task == "colour":
            res["accuracy"] = res["exact_match"]
            res["judge_accuracy"] = mean(judged_col == np.array([d[2]["colour"] for d in docs]))
        else:
            res["right"] = mean(parity_right(g, d[2]["cls"], d[2]["asked"]) for g, d in zip(gen, docs))
            res["chain_names_digit"] = mean(gen_k.startswith(DIGITS[d[2]["cls"]] + " ") for gen_k, d in zip(gen, docs))
            res["judge_digit_accuracy"] = mean(judged_cls == np.array([d[2]["cls"] for d in docs]))
    elif task == "reason":
        gen = [o[0] for o in outs]
        res.update(exact_match=mean(g == r for g, r in zip(gen, refs)),
                   right=mean(parity_right(g, d[2]["result"], d[2]["asked"]) for g, d in zip(gen, docs)),
                   result_right=mean(f" is {DIGITS[d[2]['result']]}," in g for g, d in zip(gen, docs)))
    elif task == "interleaved":
        count_ok, by_kind, cons, repeats, cons_colour = [], {}, [], [], []
        for d, (text, segments, latents) in zip(docs, outs):
            kind = d[2]["task"]
            right = len(latents) == len(d[2]["classes"])
            count_ok.append(right)
            by_kind.setdefault(kind, []).append(right)
            pixels = model.decode(latents)
            preds, colours = classify(judge, pixels), colour_of(pixels)
            named = []
            for seg, k in segments:
                if k is None:
                    continue
                cls, colour = find_object(seg)
                named.append(cls)
                cons.append(cls is not None and cls == preds[k])
                if colour is not None:
                    cons_colour.append(colour == colours[k])
            if kind == "list":
                items = [c for c in named if c is not None]
                repeats.append(len(items) >= 2 and len(items) == len(set(items)))
        res.update(image_count=mean(count_ok), image_count_by_kind={k: mean(v) for k, v in by_kind.items()},
                   exact_text=mean(o[0] == r for o, r in zip(outs, refs)), consistency=mean(cons), images_judged=len(cons),
                   colour_consistency=mean(cons_colour), lists_without_repeat=mean(repeats), lists=len(repeats))
    elif task == "mixed":
        agree, agree_class = [], []
        for d, (text, segments, latents) in zip(docs, outs):
            cls, colour = find_object(text)
            if not latents or cls is None:
                agree.append(False)
                agree_class.append(False)
                continue
            px = model.decode(latents[:1])
            c_ok = int(classify(judge, px)[0]) == cls
            agree_class.append(c_ok)
            agree.append(c_ok and colour is not None and int(colour_of(px)[0]) == colour)
        named = [d[2]["named_colour"] for d in docs]
        res.update(agreement=mean(agree), class_agreement=mean(agree_class),
                   named_colour_followed=mean(find_object(o[0])[1] == COLOURS.index(c) for o, c in zip(outs, named) if c))
    elif task == "describe":
        gen = [o[0] for o in outs]
        res.update(mean_length=mean(len(g.split()) for g in gen),
                   names_right_class=mean(find_object(g)[0] == d[2]["cls"] for g, d in zip(gen, docs)))
    return res


def parity_right(text: str, n: int, asked: Optional[str]) -> bool:
    """A parity answer is right when its last yes/no (asked "is it odd?") or odd/even (asked "odd or even?") is."""
    if asked is None:
        return last_of(text, ("odd", "even")) == ("odd" if n % 2 else "even")
    return last_of(text, ("yes", "no")) == ("yes" if (n % 2 == 1) == (asked == "odd") else "no")


def judge_caption(doc, cls: int, colour: int) -> str:
    """The answer the judges give to a caption question (their class and colour in the answer's form)."""
    kind = doc[2]["kind"]
    if kind == "class":
        return canonical_np(cls, colour)
    if kind in ("digit", "clothing"):
        return CANONICAL[cls]
    return ("yes" if cls in FOOTWEAR else "no") + ", it is " + canonical_np(cls, colour)


def headline(task: str, r: Dict) -> float:
    return r[HEADLINE[task]]


# ----------------------------------------------------------------------------- checks


def ratio_check(ref: Dict[str, Dict], other: Dict[str, Dict], tasks: Sequence[str]) -> Dict:
    per = {}
    for t in tasks:
        a, b = headline(t, ref[t]), headline(t, other[t])
        per[t] = {"in_distribution": a, "heldout": b, "ratio": (b / a) if a > 0 else (1.0 if b >= a else 0.0)}
    return {"per_task": per, "pass": all(v["ratio"] >= 0.9 for v in per.values())}


def checks_of(res: Dict[str, Dict[str, Dict]], ceiling: Dict, curves: Dict, size_bytes: int) -> Dict[str, Dict]:
    """The issue's checks from the scores: ``res[variant][task]``."""
    ind = res["in_distribution"]
    c: Dict[str, Dict] = {}
    v = ind["draw"]["class_accuracy"]
    c["text_to_image_class"] = {"value": v, "ceiling": ceiling["class_accuracy"], "threshold": "≥ 95% of ceiling",
                                "pass": v >= 0.95 * ceiling["class_accuracy"]}
    v = ind["draw"]["colour_accuracy"]
    c["text_to_image_colour"] = {"value": v, "threshold": "≥ 95%", "pass": v >= 0.95}
    v, j = ind["caption"]["exact_match"], ind["caption"]["judge_exact_match"]
    c["caption_vqa"] = {"value": v, "judge": j, "threshold": "≥ 90% and ≥ 95% of the judge's",
                        "pass": v >= 0.90 and v >= 0.95 * j}
    for key, task, metric, thr in (("parity_questions", "parity", "right", 0.95), ("colour_questions", "colour", "accuracy", 0.95),
                                   ("interleaved_count", "interleaved", "image_count", 0.95),
                                   ("interleaved_consistency", "interleaved", "consistency", 0.90),
                                   ("lists_without_repeat", "interleaved", "lists_without_repeat", 0.95),
                                   ("concurrent_agreement", "mixed", "agreement", 0.90)):
        v = ind[task][metric]
        c[key] = {"value": v, "threshold": f"≥ {100 * thr:.0f}%", "pass": v >= thr}
    c["heldout_phrasing"] = {**ratio_check(ind, res["heldout_phrasing"], EVAL_TASKS), "threshold": "each ≥ 90% of in-distribution"}
    c["heldout_pairs"] = {**ratio_check(ind, res["heldout_pairs"], PAIR_TASKS), "threshold": "each ≥ 90% of in-distribution"}
    if curves:
        g = {row["w"]: row["mean_length"] for row in curves["guidance"]}
        c["guidance_lengthens"] = {"w1": g[1.0], "w3": g[3.0], "threshold": "w3 > w1", "pass": g[3.0] > g[1.0]}
        cap = {row["steps"]: row["caption"] for row in curves["steps"]}
        best = max(cap.values())
        c["caption_plateau_by_8_steps"] = {"at_8": cap[8], "best": best, "threshold": "at 8 steps ≥ 95% of the best",
                                           "pass": cap[8] >= 0.95 * best}
    c["model_size"] = {"bytes": size_bytes, "threshold": "≤ 20 MB", "pass": size_bytes <= MAX_BYTES}
    return c


def judge_ceiling(bank, judge, n: int = 2000) -> Dict:
    pixels, classes, colours = test_images(bank, n, seed=0)
    return {"class_accuracy": mean(classify(judge, pixels) == classes), "colour_accuracy": mean(colour_of(pixels) == colours),
            "n_images": n}


def directory_bytes(model_dir: Path) -> int:
    """Bytes of what the server loads (everything but the evaluator's own outputs)."""
    own = {"eval.json", "EVAL.md", "sampler_tuning.json", "autoencoder.json", "AUTOENCODER.md"}
    return sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and p.name not in own and "grids" not in p.parts)


def latency_ms(model: ModelV2, runner) -> Dict:
    """One forward pass, one thread: a list prompt with two generated images half-way."""
    s = model.initial(["draw a red coat and a blue bag"])
    s.tokens += encode_prompt(model.tokenizer, "a red coat") + [model.spec.image] + encode_prompt(model.tokenizer, " a blue bag") + [model.spec.image]
    s.images += [ImageSlot(np.zeros(model.spec.latent_shape, np.float32), 0.5) for _ in range(2)]
    inp = pack([s])
    for _ in range(5):
        runner(inp)
    t = time.time()
    for _ in range(50):
        runner(inp)
    return {"value": round((time.time() - t) / 50 * 1000, 2), "tokens": len(s.tokens), "images": 2}


# ----------------------------------------------------------------------------- main


def evaluate_tasks(model, judge, prm, docs_by, seed) -> Dict:
    out = {}
    for task, docs in docs_by.items():
        out[task] = score(task, docs, generate(model, docs, prm, seed), model, judge)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/oneflow-toy-v2")
    ap.add_argument("--n", type=int, default=200, help="samples per task and prompt set")
    ap.add_argument("--n-curve", type=int, default=60, help="samples per point of the curves")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--w", type=float, help="text guidance; default: config sampler_defaults.w")
    ap.add_argument("--w-image", type=float, help="image guidance; default: config sampler_defaults.w_image")
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="skip the curves")
    ap.add_argument("--ckpt", help="evaluate a PyTorch checkpoint in place of model.onnx (screening)")
    ap.add_argument("--device", default="cpu", help="torch device for --ckpt")
    ap.add_argument("--md-only", action="store_true", help="re-render EVAL.md from an existing eval.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    md = Path(a.model)
    if a.md_only:
        write_md(md, json.loads((md / "eval.json").read_text()))
        return
    t0 = time.time()
    model = ModelV2(md, a.threads, a.ckpt, a.device)
    bank = load_images(model.cfg["training"]["seed"] or 0)
    judge = get_judge(0)
    ceiling = judge_ceiling(bank, judge)
    print(f"judge on real held-out images {ceiling} ({time.time() - t0:.0f}s)", flush=True)
    prm = params_from_config(model.cfg, steps=a.steps, w=a.w, w_image=a.w_image, temperature=a.temperature)
    sets = samplers(bank, "test")
    grids = md / "grids"
    grids.mkdir(exist_ok=True)
    res: Dict[str, Dict] = {}
    samples: Dict[str, List] = {}
    for variant in VARIANTS:
        res[variant] = {}
        for task in (PAIR_TASKS if variant == "heldout_pairs" else EVAL_TASKS):
            t1 = time.time()
            docs = make_prompts(task, a.n, a.seed, sets[variant], variant)
            states = generate(model, docs, prm, a.seed)
            r = score(task, docs, states, model, judge)
            r["seconds"] = round(time.time() - t1, 1)
            res[variant][task] = r
            print(variant, task, json.dumps(r), flush=True)
            if variant == "in_distribution" or task in ("draw", "caption"):
                key = task if variant == "in_distribution" else f"{task}-{variant}"
                rows, samples[key] = [], []
                for d, s in list(zip(docs, states))[:12]:
                    text, _, latents = model.output(s)
                    prompt_px = [it.pixels for it in d[0] if isinstance(it, Img)]
                    rows.append(prompt_px + list(model.decode(latents)))
                    samples[key].append({"prompt": prompt_text(d[0]), "output": text, "reference": target_text(d[1])})
                write_grid(grids / f"{key}.png", rows)
    curves: Dict = {}
    if not a.quick:
        docs = make_prompts("describe", a.n_curve, a.seed, sets["in_distribution"], "in_distribution")
        curves["guidance"] = []
        for w in (1.0, 2.0, 3.0, 5.0):
            r = score("describe", docs, generate(model, docs, replace(prm, w=w), a.seed), model, judge)
            curves["guidance"].append({"w": w, "mean_length": r["mean_length"], "names_right_class": r["names_right_class"]})
            print("guidance", curves["guidance"][-1], flush=True)
        curves["steps"] = []
        curve_tasks = ["draw", "caption", "colour", "parity", "interleaved", "mixed"]
        curve_docs = {t: make_prompts(t, a.n_curve, a.seed + 1, sets["in_distribution"], "in_distribution") for t in curve_tasks}
        for n_steps in (4, 8, 16, 32, 64):
            r = evaluate_tasks(model, judge, replace(prm, steps=n_steps), curve_docs, a.seed + 1)
            row = {"steps": n_steps, **{t: headline(t, r[t]) for t in curve_tasks},
                   "draw_class": r["draw"]["class_accuracy"], "interleaved_consistency": r["interleaved"]["consistency"]}
            curves["steps"].append(row)
            print("steps", row, flush=True)
    size = directory_bytes(md)
    checks = checks_of(res, ceiling, curves, size)
    runner = model.runner if a.ckpt else OrtRunner(str(md / model.cfg["onnx_file"]), threads=1)
    out = {"model": model.cfg["name"], "onnx_sha256": model.cfg["onnx_sha256"], "sampler": asdict(prm), "seed": a.seed,
           "n_per_task": a.n, "n_per_curve_point": a.n_curve, "judge_ceiling": ceiling, "tasks": res, "checks": checks,
           "curves": curves, "samples": samples, "latency_ms_one_forward_1thread": latency_ms(model, runner),
           "model_bytes": size, "eval_seconds": round(time.time() - t0, 1),
           "command": f"/usr/bin/python3 -m training.evaluate_v2 --model {md}"}
    (md / "eval.json").write_text(json.dumps(out, indent=1) + "\n")
    write_md(md, out)
    print(json.dumps({k: v.get("pass") for k, v in checks.items()}, indent=1))


# ----------------------------------------------------------------------------- EVAL.md


def pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


CHECK_TITLES = {"text_to_image_class": "text→image: class right", "text_to_image_colour": "text→image: colour right",
                "caption_vqa": "captions / VQA exact match", "parity_questions": "parity questions right",
                "colour_questions": "colour questions right", "interleaved_count": "interleaved: image count right",
                "interleaved_consistency": "interleaved: per-image consistency",
                "lists_without_repeat": "lists without a repeated item", "concurrent_agreement": "concurrent image/name agreement",
                "heldout_phrasing": "held-out phrasings vs in-distribution", "heldout_pairs": "held-out colour×class pairs vs in-distribution",
                "guidance_lengthens": "guidance lengthens open-ended answers (w = 3 vs w = 1)",
                "caption_plateau_by_8_steps": "captions reach their plateau within 8 steps", "model_size": "model directory size"}


def check_value(key: str, c: Dict) -> str:
    if key == "text_to_image_class":
        return f"{pct(c['value'])} (judge on real held-out images {pct(c['ceiling'])})"
    if key == "caption_vqa":
        return f"{pct(c['value'])} (judge on the same images {pct(c['judge'])})"
    if key in ("heldout_phrasing", "heldout_pairs"):
        worst = min(c["per_task"].items(), key=lambda kv: kv[1]["ratio"])
        return f"lowest ratio {worst[1]['ratio']:.2f} ({worst[0]}); per task below"
    if key == "guidance_lengthens":
        return f"{c['w3']:.2f} vs {c['w1']:.2f} words"
    if key == "caption_plateau_by_8_steps":
        return f"{pct(c['at_8'])} at 8 steps, best {pct(c['best'])}"
    if key == "model_size":
        return f"{c['bytes'] / 1e6:.2f} MB"
    return pct(c["value"])


def write_md(md: Path, r: Dict):
    s = r["sampler"]
    L = [f"# {r['model']} — evaluation", "",
         f"Generated by `{r['command']}` (do not edit by hand).", "",
         f"Model file sha256 `{r['onnx_sha256']}`. Test-split images only; prompts are text through tokenizer.json, "
         f"prompt images through encoder.onnx, generated images through decoder.onnx. Sampler: {s['steps']} steps, "
         f"text guidance w = {s['w']}, image guidance w_image = {s['w_image']}, token temperature {s['temperature']}, "
         f"seed {r['seed']}, {r['n_per_task']} samples per task and prompt set. Images are judged by a CNN trained on "
         "the train split only and by the nearest palette colour of the object (`training.judge_v2`).", ""]
    if (md / "sampler_tuning.json").exists():
        L += ["Sampler settings: chosen by `training.tune_sampler_v2` on validation prompts (another seed, train-split "
              "images, training phrasings and pairs only); every setting it tried is in "
              "[sampler_tuning.json](sampler_tuning.json).", ""]
    if (md / "train.log").exists():
        first = (md / "train.log").read_text().splitlines()[0].lstrip("# ")
        L += [f"Weights: EMA weights from [train.log](train.log) — `{first}`.", ""]
    if (md / "AUTOENCODER.md").exists():
        L += ["Autoencoder: [AUTOENCODER.md](AUTOENCODER.md).", ""]
    L += ["## Checks", "", "| check | value | threshold | pass |", "|---|---|---|---|"]
    for key, c in r["checks"].items():
        L.append(f"| {CHECK_TITLES.get(key, key)} | {check_value(key, c)} | {c['threshold']} | "
                 f"{'pass' if c['pass'] else '**FAIL**'} |")
    failing = [CHECK_TITLES.get(k, k) for k, c in r["checks"].items() if not c["pass"]]
    L += ["", f"{len(r['checks']) - len(failing)} of {len(r['checks'])} checks pass" +
          (f"; failing: {', '.join(failing)}." if failing else "."), ""]
    ce = r["judge_ceiling"]
    L += [f"Judges on real held-out images ({ce['n_images']}, training pairs): class {pct(ce['class_accuracy'])}, "
          f"colour {pct(ce['colour_accuracy'])}.", "",
          "## In-distribution vs held-out", "", "Headline metric per task (" +
          ", ".join(f"{t}: {m.replace('_', ' ')}" for t, m in HEADLINE.items() if t != "describe") + ").", "",
          "| task | in-distribution | held-out phrasing | held-out pairs |", "|---|---|---|---|"]
    for task in EVAL_TASKS:
        row = [pct(headline(task, r["tasks"][v][task])) if task in r["tasks"][v] else "—" for v in VARIANTS]
        L.append(f"| {task} | " + " | ".join(row) + " |")
    L += ["", "## Per task", ""]

    def val(k, x):
        if isinstance(x, dict):
            return "(" + ", ".join(f"{kk} {val(kk, xx)}" for kk, xx in x.items()) + ")"
        return pct(x) if isinstance(x, float) and x <= 1 and k != "seconds" else x

    for variant in VARIANTS:
        L += [f"### {variant.replace('_', ' ')}", ""]
        for task, v in r["tasks"][variant].items():
            L.append(f"- **{task}**: " + ", ".join(f"{k} = {val(k, x)}" for k, x in v.items()))
        L.append("")
    if r["curves"]:
        L += ["## Guidance curve (open-ended prompts: \"describe this image\")", "",
              "| w | mean length (words) | names the right class |", "|---|---|---|"]
        for g in r["curves"]["guidance"]:
            L.append(f"| {g['w']} | {g['mean_length']:.2f} | {pct(g['names_right_class'])} |")
        L += ["", f"## Steps curve ({r['n_per_curve_point']} samples per task and point)", "",
              "| steps | draw (class and colour) | caption | colour | parity | interleaved count | consistency | concurrent |",
              "|---|---|---|---|---|---|---|---|"]
        for row in r["curves"]["steps"]:
            L.append(f"| {row['steps']} | {pct(row['draw'])} | {pct(row['caption'])} | {pct(row['colour'])} | "
                     f"{pct(row['parity'])} | {pct(row['interleaved'])} | {pct(row['interleaved_consistency'])} | "
                     f"{pct(row['mixed'])} |")
        L.append("")
    lat = r["latency_ms_one_forward_1thread"]
    L += [f"One forward pass in onnxruntime, one thread: {lat['value']} ms ({lat['tokens']} tokens, {lat['images']} images). "
          f"Model directory: {r['model_bytes'] / 1e6:.2f} MB. Evaluation took {r['eval_seconds'] / 60:.1f} min.", "",
          "## Samples", "", "Each grid row is one sample: prompt images first, then the generated ones; the list below "
          "gives the same rows' prompts, outputs and the reference answers.", ""]
    for key, ss in r["samples"].items():
        L += [f"### {key}", "", f"![{key}](grids/{key}.png)", ""]
        for i, smp in enumerate(ss):
            L.append(f"{i + 1}. `{smp['prompt']}` → `{smp['output']}` (reference `{smp['reference']}`)")
        L.append("")
    if (md / "NOTES.md").exists():
        L += ["## Closing note", "", (md / "NOTES.md").read_text().strip(), ""]
    (md / "EVAL.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
