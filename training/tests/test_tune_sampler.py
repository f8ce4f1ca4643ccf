"""Sampler tuning: validation prompts only, the choice rule, and what it writes."""
import json
import shutil
from pathlib import Path

import pytest

import training.tune_sampler as T
from training.evaluate import Classifier

TINY = Path(__file__).resolve().parents[2] / "packages" / "sampler" / "fixtures" / "tiny-model"


def row(w, wi, mean):
    return {"w": w, "w_image": wi, "mean": mean}


def test_choose_best_mean_then_weaker_guidance():
    assert T.choose([row(1, 1, 0.5), row(1, 3, 0.7), row(1.5, 2, 0.6)]) == row(1, 3, 0.7)
    assert T.choose([row(1.5, 3, 0.7), row(1, 2, 0.7), row(1, 4, 0.7)]) == row(1, 2, 0.7)


def test_refuses_the_test_seed_and_bad_grids(capsys):
    with pytest.raises(SystemExit):
        T.main(["--model", str(TINY), "--seed", str(T.EVAL_SEED)])
    assert "test seed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        T.main(["--model", str(TINY), "--w-image", "2,x"])
    assert "comma-separated" in capsys.readouterr().err


def test_grid_on_tiny_model_writes_record_and_defaults(tmp_path, monkeypatch):
    md = tmp_path / "m"
    shutil.copytree(TINY, md)
    monkeypatch.setattr(T, "get_classifier", lambda seed: Classifier().eval())  # an untrained judge: plumbing only
    before = json.loads((md / "config.json").read_text())
    T.main(["--model", str(md), "--n", "2", "--w", "1", "--w-image", "1,2.5", "--threads", "1", "--write"])
    rec = json.loads((md / "sampler_tuning.json").read_text())
    assert [(r["w"], r["w_image"]) for r in rec["grid"]] == [(1.0, 1.0), (1.0, 2.5)]
    for r in rec["grid"]:
        keys = {"text_to_image", "caption_vqa", "interleaved_count", "interleaved_consistency", "concurrent_agreement"}
        assert keys <= set(r) and all(0 <= r[k] <= 1 for k in keys)
        assert r["mean"] == pytest.approx(sum(r[k] for k in keys) / 5)
    assert rec["validation"]["seed"] != T.EVAL_SEED and rec["validation"]["images"] == "train split"
    chosen = T.choose(rec["grid"])
    assert rec["chosen"] == {"w": chosen["w"], "w_image": chosen["w_image"]}
    after = json.loads((md / "config.json").read_text())
    assert after["sampler_defaults"] == {**before["sampler_defaults"], **rec["chosen"]}
    assert {k: v for k, v in after.items() if k != "sampler_defaults"} == {k: v for k, v in before.items() if k != "sampler_defaults"}
