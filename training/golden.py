"""Golden vectors for the TypeScript sampler (docs/model-contract.md, "Golden vectors").

    /usr/bin/python3 -m training.golden --model models/oneflow-toy-v1

Writes ``<model>/golden/``:
  forward.json    fixed inputs -> ONNX outputs (onnxruntime, CPU)
  steps.json      fixed states + fixed model outputs + fixed draws -> expected next states
  trajectory.json a whole generation: prompt, params, every draw consumed, final state
Floats are written with Python's repr (float32 values round-trip exactly through a double).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.data import IMAGE, STOI, VOCAB, DocSampler, load_images
from training.sample import (INPUT_NAMES, OUTPUT_NAMES, Draws, ImageSlot, OrtRunner, RecordedDraws,
                             SamplerParams, State, initial_state, needs_text_free, pack, step, text_free,
                             unconditional, unpack)


def f32(a) -> list:
    return [float(x) for x in np.asarray(a, np.float32).reshape(-1)]


def state_json(s: State) -> dict:
    return {"tokens": list(map(int, s.tokens)), "prompt_len": s.prompt_len, "t_text": s.t_text,
            "capped": s.capped, "images": [{"t": im.t, "latent": f32(im.latent)} for im in s.images]}


def outputs_json(o) -> dict:
    return {"pi_logit": f32(o.pi_logit), "log_lambda": f32(o.log_lambda),
            "q_logprobs": f32(o.q_logprobs), "velocity": f32(o.velocity),
            "shapes": {"pi_logit": list(o.pi_logit.shape), "q_logprobs": list(o.q_logprobs.shape),
                       "velocity": list(o.velocity.shape)}}


def tensor_json(a: np.ndarray) -> dict:
    flat = a.reshape(-1)
    if a.dtype == np.bool_:
        data = [bool(x) for x in flat]
    elif a.dtype.kind == "i":
        data = [int(x) for x in flat]
    else:
        data = f32(flat)
    return {"dtype": {"bool": "bool", "int64": "int64", "float32": "float32"}[str(a.dtype)],
            "shape": list(a.shape), "data": data}


def make(model_dir: Path):
    cfg = json.loads((model_dir / "config.json").read_text())
    runner = OrtRunner(str(model_dir / "model.onnx"), threads=1)
    out = model_dir / "golden"
    out.mkdir(exist_ok=True)
    test = DocSampler(load_images(0), "test")
    rng = np.random.default_rng(5)

    # 1. forward: a padded batch of two generations (different lengths and image counts)
    s1 = initial_state(test.caption(rng, cls=7)[0])  # <bos> <image> what ... <sep>, clean image
    s2 = initial_state("count from two to four".split())
    s2.tokens += [STOI["two"], STOI[IMAGE], STOI["three"]]
    s2.images = [ImageSlot(np.random.default_rng(1).standard_normal((1, 28, 28)).astype(np.float32), 0.25)]
    inp = pack([s1, s2])
    res = runner(inp)
    fw = {"model_sha256": cfg["onnx_sha256"], "tolerance": 1e-4,
          "inputs": {k: tensor_json(inp[k]) for k in INPUT_NAMES},
          "outputs": {k: tensor_json(res[k]) for k in OUTPUT_NAMES},
          "note": "row 1 is padded: token_mask/image_mask false there; compare outputs only where masks are true"}
    (out / "forward.json").write_text(json.dumps(fw))

    # 2. single steps: state + outputs (+ unconditional outputs) + draws -> next state
    cases = []

    def add_case(name, s: State, prm: SamplerParams, seed: int):
        oc = unpack(runner(pack([s])), [s])[0]
        ou = unpack(runner(pack([unconditional(s)])), [unconditional(s)])[0] if prm.w != 1.0 else None
        of = unpack(runner(pack([text_free(s)])), [text_free(s)])[0] if needs_text_free(s, prm) else None
        d = RecordedDraws(inner=Draws(seed))
        new = step(s, oc, ou, prm, d, of)
        cases.append({"name": name, "params": prm.__dict__, "state": state_json(s),
                      "outputs_cond": outputs_json(oc), "outputs_uncond": outputs_json(ou) if ou else None,
                      "outputs_text_free": outputs_json(of) if of else None,
                      "draws": {"uniforms": d.used_u, "normals": d.used_n}, "expected": state_json(new)})
        return new

    prm = SamplerParams(steps=4, w=1.0, temperature=1.0, max_len=cfg["max_tokens"], max_images=cfg["max_images"])
    s = initial_state("draw a seven".split())
    s = add_case("t2i_first_step_no_guidance", s, prm, 3)
    prm_g = SamplerParams(steps=4, w=2.0, temperature=0.5, top_k=5, max_len=cfg["max_tokens"], max_images=cfg["max_images"])
    s = initial_state("count from two to four".split())
    s.tokens += [STOI["two"], STOI[IMAGE]]
    s.images = [ImageSlot(np.random.default_rng(2).standard_normal((1, 28, 28)).astype(np.float32), 0.0)]
    s.t_text = 0.25
    for k in range(2):
        s = add_case(f"count_guided_step{k + 1}", s, prm_g, 10 + k)
    prm_i = SamplerParams(steps=4, w=1.0, w_image=3.0, temperature=0.3, max_len=cfg["max_tokens"], max_images=cfg["max_images"])
    add_case("count_image_guided", s, prm_i, 12)
    # length cap: a small cap closes the text clock
    s = initial_state("pack a coat and a bag".split())
    add_case("length_cap", s, SamplerParams(steps=2, w=1.0, max_len=len(s.tokens) + 1), 4)
    (out / "steps.json").write_text(json.dumps({"model_sha256": cfg["onnx_sha256"], "cases": cases}))

    # 3. a whole generation with recorded draws (tokens must match exactly; latents within 1e-3)
    prm_t = SamplerParams(steps=8, w=2.0, temperature=0.5, max_len=cfg["max_tokens"], max_images=cfg["max_images"],
                          w_image=2.0)
    s0 = initial_state("three plus four".split())
    d = RecordedDraws(inner=Draws(42))
    s = s0.copy()
    n_fwd = 0
    while not s.done:
        oc = unpack(runner(pack([s])), [s])[0]
        u = unconditional(s)
        ou = unpack(runner(pack([u])), [u])[0]
        of = unpack(runner(pack([text_free(s)])), [text_free(s)])[0] if needs_text_free(s, prm_t) else None
        s = step(s, oc, ou, prm_t, d, of)
        n_fwd += 1
    traj = {"model_sha256": cfg["onnx_sha256"], "prompt": "three plus four", "params": prm_t.__dict__,
            "initial": state_json(s0), "draws": {"uniforms": d.used_u, "normals": d.used_n},
            "steps_taken": n_fwd, "final_tokens": list(map(int, s.tokens)),
            "final_text": " ".join(VOCAB[t] for t in s.tokens[s.prompt_len:]),
            "final_image_t": [im.t for im in s.images],
            "final_latents": [f32(im.latent) for im in s.images], "latent_tolerance": 1e-3}
    (out / "trajectory.json").write_text(json.dumps(traj))
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"golden vectors in {out}: {total / 1e6:.2f} MB; trajectory '{traj['final_text']}'")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/oneflow-toy-v1")
    a = ap.parse_args(argv)
    make(Path(a.model))


if __name__ == "__main__":
    main()
