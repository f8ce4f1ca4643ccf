"""The comparison's report: parity interpolation by hand, and rendering from whatever runs exist."""
import json

import pytest

from training.baseline import report as R


def test_flops_to_reach_interpolates_in_log_flops():
    pts = [(1e12, 0.5), (4e12, 0.7), (16e12, 0.9)]
    kind, f = R.flops_to_reach(pts, 0.8)  # halfway between 4e12 and 16e12 in log: 8e12
    assert kind == "at" and f == pytest.approx(8e12)
    assert R.flops_to_reach(pts, 0.4) == ("at_most", 1e12)
    assert R.flops_to_reach(pts, 0.95) == ("beyond", 16e12)
    assert R.flops_to_reach([(4e12, 0.2), (1e12, 0.6)], 0.6) == ("at_most", 1e12)  # sorted by FLOPs first


def _write_run(d, objective, evals, log_steps, schedule="concurrent"):
    d.mkdir(parents=True)
    cfg = {"objective": objective, "image_schedule": schedule, "steps": 8, "batch_size": 4,
           "model": {"d_model": 32, "n_layers": 1, "chans": [8, 16]}}
    (d / "train_config.json").write_text(json.dumps(cfg))
    lines = ["# 2026 start at step 0/8; params 1; torch x; threads 1; device cpu"]
    lines += [f"step {s} loss 1 text 1 img 1 lr 1e-3 flops {f:.6e} elapsed {e}s" for s, f, e in log_steps]
    (d / "train.log").write_text("\n".join(lines) + "\n")
    for step, flops, values in evals:
        checked = dict(zip(R.METRICS, values))
        cost = {"forward_passes_per_generation": 40.0, "forward_flops_per_generation": 2e9,
                "seconds_per_generation": 0.05, "batched_calls": 3}
        tasks = {t: {"cost": cost} for t in ("draw", "caption", "interleaved", "mixed")}
        (d / f"eval-{step}.json").write_text(json.dumps({"step": step, "train_flops": flops, "checked": checked,
                                                         "tasks": tasks, "n_per_task": 10, "seed": 1234,
                                                         "device": "cpu", "threads": 1}))


def test_report_renders_parity_from_the_files(tmp_path):
    res = tmp_path / "results" / "cpu"
    _write_run(res / "oneflow", "oneflow", [(4, 1e12, [0.5] * 5), (8, 4e12, [0.7, 0.9, 0.3, 0.3, 0.3])],
               [(4, 1e12, 60), (8, 4e12, 120)])
    _write_run(res / "ar", "ar", [(4, 1.1e12, [0.4] * 5), (8, 4.4e12, [0.6] * 5)], [(8, 4.4e12, 130)])
    out = tmp_path / "README.md"
    R.main(["--results", str(tmp_path / "results"), "--out", str(out)])
    par = json.loads((res / "parity.json").read_text())["parity"]
    # text→image: AR best 0.6 at 4.4e12; OneFlow 0.5 -> 0.7 between 1e12 and 4e12 reaches 0.6 at 2e12
    assert par["text_to_image"]["oneflow_reach"] == "at"
    assert par["text_to_image"]["ratio"] == pytest.approx(2e12 / 4.4e12)
    assert par["interleaved_count"]["oneflow_reach"] == "beyond"
    assert par["interleaved_count"]["ratio"] == pytest.approx(4e12 / 4.4e12)
    text = out.read_text()
    assert "0.45×" in text and "> 0.91× (not reached)" in text
    assert "Runs not present (left out): OneFlow, sequential schedule." in text
    assert "on 2 of 5 metrics; FLOPs ratios (OneFlow ÷ baseline): text→image 0.45×, caption/VQA 0.32×, image count > 0.91×" in text
    assert "| OneFlow | oneflow, images concurrent | 32×1, convs 8/16 | 8 | cosine over 8 |" in text


def test_report_wall_time_adds_resumed_segments(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("# a start at step 0/8; device cpu\nstep 4 loss 1 text 1 img 1 lr 1 flops 1e9 elapsed 50s\n"
                   "# b start at step 4/8; device cpu\nstep 8 loss 1 text 1 img 1 lr 1 flops 2e9 elapsed 30s\n")
    r = R.read_log(log)
    assert r["wall_s"] == 80 and r["device"] == "cpu" and r["steps"][-1][:2] == (8, 2e9)


def test_report_without_any_results(tmp_path):
    out = tmp_path / "README.md"
    R.main(["--results", str(tmp_path / "nothing"), "--out", str(out)])
    assert out.read_text().startswith("# OneFlow vs an autoregressive")
