"""The comparison's evaluation: the evaluator's prompts and seeds for both models, what it records."""
import json

import pytest

import training.baseline.evaluate as E
from training.baseline.train import main as train_main
from training.evaluate import Classifier

TINY = {"seed": 3, "steps": 2, "batch_size": 4, "warmup": 1, "threads": 1, "log_every": 1, "ckpt_every": 2,
        "bucket_chunks": 2, "keep_steps": [2],
        "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "chans": [8, 16], "rope": True}}


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for name, extra in (("ar", {"objective": "ar"}), ("oneflow-sequential", {"image_schedule": "sequential"})):
        cfg = d / f"{name}.json"
        cfg.write_text(json.dumps({**TINY, **extra}))
        train_main(["--config", str(cfg), "--run-dir", str(d / name)])
        out[name] = d / name / "ckpt-2.pt"
    return out


@pytest.fixture(autouse=True)
def untrained_judge(monkeypatch):
    monkeypatch.setattr(E, "get_classifier", lambda seed: Classifier().eval())  # plumbing only


def test_held_out_evaluation_records_scores_and_cost(ckpts, tmp_path, monkeypatch):
    seen = []
    make = E.make_prompts
    monkeypatch.setattr(E, "make_prompts", lambda task, n, seed, s: seen.append((task, seed, s.split)) or make(task, n, seed, s))
    tuning = tmp_path / "tuning.json"
    tuning.write_text(json.dumps({"chosen": {"temperature": 0.5, "w_image": 2.0}}))
    out = tmp_path / "eval.json"
    E.main(["--ckpt", str(ckpts["ar"]), "--settings", str(tuning), "--n", "2", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["kind"] == "ar" and r["step"] == 2 and r["train_flops"] > 0
    assert r["settings"] == {**E.FIXED, "temperature": 0.5, "w_image": 2.0}
    assert seen == [(t, E.EVAL_SEED, "test") for t in E.TASKS]  # the evaluator's held-out prompts
    assert set(r["checked"]) == {"text_to_image", "caption_vqa", "interleaved_count", "interleaved_consistency",
                                 "concurrent_agreement"}
    cost = r["tasks"]["draw"]["cost"]
    # a draw takes at least one token forward and, per image, 32 Euler steps with a guidance twin each
    assert cost["forward_passes_per_generation"] >= 1 and cost["forward_flops_per_generation"] > 0


def test_tuning_uses_validation_prompts_and_picks_the_best_mean(ckpts, tmp_path):
    out = tmp_path / "tuning.json"
    E.main(["--tune", "--ckpt", str(ckpts["oneflow-sequential"]), "--n", "1", "--temperature", "1",
            "--w-image", "1,2", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["kind"] == "oneflow-sequential"
    assert r["validation"]["seed"] == E.VALIDATION_SEED != E.EVAL_SEED and r["validation"]["images"] == "train split"
    assert [(g["temperature"], g["w_image"]) for g in r["grid"]] == [(1.0, 1.0), (1.0, 2.0)]
    best = max(r["grid"], key=lambda g: (g["mean"], -abs(g["w_image"] - 1)))
    assert r["chosen"] == {"temperature": best["temperature"], "w_image": best["w_image"]}


def test_caption_steps_curve_counts_forward_passes(ckpts, tmp_path):
    out = tmp_path / "steps.json"
    E.main(["--caption-steps", "2,4", "--ckpt", str(ckpts["oneflow-sequential"]), "--n", "2", "--out", str(out)])
    curve = json.loads(out.read_text())["caption_steps"]
    assert [c["steps"] for c in curve] == [2, 4]
    # a caption has no image to wait for: one forward pass per step (text guidance is off)
    assert [c["cost"]["forward_passes_per_generation"] for c in curve] == [2.0, 4.0]
    with pytest.raises(SystemExit):
        E.main(["--caption-steps", "2", "--ckpt", str(ckpts["ar"]), "--out", str(tmp_path / "x.json")])
