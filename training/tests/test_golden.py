"""The shipped golden vectors replay exactly through the reference sampler and onnxruntime."""
import json
from pathlib import Path

import numpy as np
import pytest

from training.sample import (INPUT_NAMES, ImageSlot, OrtRunner, Outputs, RecordedDraws, SamplerParams, State,
                             needs_text_free, pack, step, text_free, unconditional, unpack)

G = Path(__file__).resolve().parents[2] / "models" / "oneflow-toy-v1" / "golden"
pytestmark = pytest.mark.skipif(not (G / "steps.json").exists(), reason="golden vectors not present")


def state(j):
    return State(list(j["tokens"]), j["prompt_len"],
                 [ImageSlot(np.asarray(im["latent"], np.float32).reshape(1, 28, 28), im["t"]) for im in j["images"]],
                 j["t_text"], j["capped"])


def outputs(j):
    if j is None:
        return None
    sh = j["shapes"]
    return Outputs(np.asarray(j["pi_logit"], np.float32), np.asarray(j["log_lambda"], np.float32),
                   np.asarray(j["q_logprobs"], np.float32).reshape(sh["q_logprobs"]),
                   np.asarray(j["velocity"], np.float32).reshape(sh["velocity"]))


def test_steps_replay_exactly():
    cases = json.loads((G / "steps.json").read_text())["cases"]
    assert len(cases) >= 3
    assert any(c.get("outputs_text_free") for c in cases)  # image guidance is covered
    for c in cases:
        d = RecordedDraws(c["draws"]["uniforms"], c["draws"]["normals"])
        new = step(state(c["state"]), outputs(c["outputs_cond"]), outputs(c["outputs_uncond"]),
                   SamplerParams(**c["params"]), d, outputs(c.get("outputs_text_free")))
        e = c["expected"]
        assert new.tokens == e["tokens"], c["name"]
        assert new.t_text == e["t_text"] and new.capped == e["capped"]
        assert [im.t for im in new.images] == [im["t"] for im in e["images"]]
        for im, ej in zip(new.images, e["images"]):
            assert np.array_equal(im.latent.reshape(-1), np.asarray(ej["latent"], np.float32))
        assert d.u == [] and d.n == []  # every recorded draw consumed


def test_forward_golden_matches_onnxruntime():
    fw = json.loads((G / "forward.json").read_text())
    inp = {}
    for k in INPUT_NAMES:
        t = fw["inputs"][k]
        inp[k] = np.asarray(t["data"], {"bool": bool, "int64": np.int64, "float32": np.float32}[t["dtype"]]).reshape(t["shape"])
    out = OrtRunner(str(G.parent / "model.onnx"), threads=1)(inp)
    tm, im = inp["token_mask"], inp["image_mask"]
    for k, mask in [("pi_logit", tm), ("log_lambda", tm), ("q_logprobs", tm), ("velocity", im)]:
        ref = np.asarray(fw["outputs"][k]["data"], np.float32).reshape(fw["outputs"][k]["shape"])
        assert np.max(np.abs(out[k][mask] - ref[mask])) < 1e-4, k


def test_trajectory_reproduces_with_recorded_draws():
    tr = json.loads((G / "trajectory.json").read_text())
    runner = OrtRunner(str(G.parent / "model.onnx"), threads=1)
    s = state(tr["initial"])
    prm = SamplerParams(**tr["params"])
    d = RecordedDraws(tr["draws"]["uniforms"], tr["draws"]["normals"])
    n = 0
    while not s.done:
        oc = unpack(runner(pack([s])), [s])[0]
        ou = unpack(runner(pack([unconditional(s)])), [unconditional(s)])[0]
        of = unpack(runner(pack([text_free(s)])), [text_free(s)])[0] if needs_text_free(s, prm) else None
        s = step(s, oc, ou, prm, d, of)
        n += 1
    assert n == tr["steps_taken"] and s.tokens == tr["final_tokens"]
    for im, ref in zip(s.images, tr["final_latents"]):
        assert np.max(np.abs(im.latent.reshape(-1) - np.asarray(ref, np.float32))) < tr["latent_tolerance"]


def close(a, b, path=""):
    """Same structure; numbers equal within 1e-4 (model outputs differ by float rounding between machines)."""
    assert type(a) == type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{k}]")
    elif isinstance(a, float):
        assert abs(a - b) < 1e-4, path
    else:
        assert a == b, path


def test_generator_reproduces_the_shipped_vectors(tmp_path):
    """training.golden on a copy of the shipped model gives the committed files (tokens exactly)."""
    import shutil

    from training.golden import make_model_golden
    for name in ("config.json", "model.onnx"):
        shutil.copy(G.parent / name, tmp_path / name)
    make_model_golden(tmp_path)
    for name in ("forward.json", "steps.json", "trajectory.json"):
        close(json.loads((tmp_path / "golden" / name).read_text()), json.loads((G / name).read_text()), name)
