"""Golden vectors for the TypeScript sampler and runtime, made with the Python reference (training/sample.py).

Two file formats, one generator:

* a shipped model's ``<model>/golden/`` (docs/model-contract.md, "Golden vectors"), arrays as JSON
  number lists (floats with Python's repr: float32 values round-trip exactly through a double):
    forward.json    fixed inputs -> ONNX outputs (onnxruntime, CPU)
    steps.json      fixed states + fixed model outputs + fixed draws -> expected next states
    trajectory.json a whole generation: prompt, params, every draw consumed, final state

* a test fixture's single file (``packages/sampler/fixtures/golden-tiny.json``, the contract-version-2
  fixtures' ``golden.json``; read by packages/sampler/src/testing/golden.ts), arrays as base64 of
  little-endian raw values ``{"dtype": "f32"|"f64"|"i64"|"bool", "shape", "b64"}``:
    model    what a reader needs to build the model spec
    forward  fixed padded batches -> ONNX Runtime (Python) outputs
    steps    fixed states + synthetic outputs + explicit draws -> next states
    run      a whole guided generation with the model in the loop, its draws recorded
  (version-2 fixtures add ``text`` and ``codec``; see ``write_fixture_golden_v2``).

    /usr/bin/python3 -m training.golden --model models/oneflow-toy-v1
    /usr/bin/python3 -m training.golden --tiny packages/sampler/fixtures
"""
from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from training.contract import INPUT_NAMES, OUTPUT_NAMES, V1_SPEC, ModelSpec
from training.data import BOS, IMAGE, PAD, SEP, STOI, VOCAB, DocSampler, load_images
from training.model_io import sha256
from training.sample import (Draws, ImageSlot, Img, OrtRunner, Outputs, RecordedDraws, SamplerParams, State,
                             initial_state, needs_text_free, pack, run_many, step, text_free, unconditional, unpack)

FIXTURE_ABOUT = "Golden vectors for the TypeScript sampler, made with the Python reference (training/sample.py)."


# ----------------------------------------------------------------------------- model-directory format (number lists)


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


def make_model_golden(model_dir: Path):
    """``<model_dir>/golden/`` for a shipped contract-version-1 model."""
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


# ----------------------------------------------------------------------------- fixture format (base64 arrays)


ARRAY_TYPES = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "bool": np.bool_}


def arr(a, dtype: str) -> dict:
    """An array as golden.ts reads it: base64 of little-endian raw values."""
    a = np.ascontiguousarray(np.asarray(a, ARRAY_TYPES[dtype]))
    raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
    return {"dtype": dtype, "shape": list(a.shape), "b64": base64.b64encode(raw).decode()}


def array_type(a: np.ndarray) -> str:
    return "bool" if a.dtype == np.bool_ else "i64" if a.dtype == np.int64 else "f32"


def fixture_state(s: State) -> dict:
    return {"tokens": list(map(int, s.tokens)), "prompt_len": s.prompt_len, "t_text": s.t_text, "capped": s.capped,
            "images": [{"t": im.t, "latent": arr(im.latent, "f32")} for im in s.images]}


def fixture_outputs(o: Outputs) -> dict:
    return {"pi_logit": arr(o.pi_logit, "f32"), "log_lambda": arr(o.log_lambda, "f32"),
            "q_logprobs": arr(o.q_logprobs, "f32"), "velocity": arr(o.velocity, "f32")}


def params_json(prm: SamplerParams) -> dict:
    return {"steps": prm.steps, "w": prm.w, "w_image": prm.w_image, "temperature": prm.temperature, "top_k": prm.top_k,
            "max_len": prm.max_len, "max_images": prm.max_images}


def fake_outputs(rng, s: State, pi_scale=2.0, lam_shift=1.0) -> Outputs:
    """Synthetic model outputs for one state: random logits, rates and velocities of its spec's shapes."""
    n, m, v = len(s.tokens), len(s.images), s.spec.vocab_size
    logits = rng.normal(size=(n, v)) * 2.0
    lq = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return Outputs(rng.normal(size=n).astype(np.float32) * pi_scale,
                   (rng.normal(size=n) + lam_shift).astype(np.float32),
                   lq.astype(np.float32), rng.normal(size=(m,) + s.spec.latent_shape).astype(np.float32))


def random_latent(rng, spec: ModelSpec, t: Optional[float] = None):
    """A normal latent of the spec's shape, as an ImageSlot at clock t (or a bare array without t)."""
    latent = rng.normal(size=spec.latent_shape).astype(np.float32)
    return latent if t is None else ImageSlot(latent, t)


class StepCases:
    """Step cases with synthetic outputs and explicit draws, all from one generator (``rng``)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.cases: List[dict] = []

    def add(self, name: str, s: State, prm: SamplerParams, **kw):
        oc = fake_outputs(self.rng, s, **kw)
        ou = fake_outputs(self.rng, unconditional(s), **kw) if prm.w != 1.0 else None
        of = fake_outputs(self.rng, text_free(s), **kw) if needs_text_free(s, prm) else None
        n_gaps = len(s.tokens) - s.prompt_len + 1
        draws = RecordedDraws(self.rng.random(3 * n_gaps),
                              self.rng.standard_normal(s.spec.latent_size * 8).astype(np.float32))
        new = step(s, oc, ou, prm, draws, of)
        self.cases.append({"name": name, "params": params_json(prm), "before": fixture_state(s),
                           "cond": fixture_outputs(oc), "uncond": fixture_outputs(ou) if ou is not None else None,
                           "text_free": fixture_outputs(of) if of is not None else None,
                           "uniforms": arr(draws.used_u, "f64"), "normals": arr(draws.used_n, "f32"),
                           "after": fixture_state(new)})


def forward_entries(batches: Sequence[Sequence[State]], runner: Callable,
                    round_inputs: Optional[Callable] = None) -> List[dict]:
    """Each batch packed and run; ``round_inputs`` may adjust the packed inputs first (float16 models:
    values a float16 input holds exactly)."""
    entries = []
    for batch in batches:
        inp = pack(batch)
        if round_inputs is not None:
            inp = round_inputs(inp)
        out = runner(inp)
        entries.append({"inputs": {k: arr(inp[k], array_type(inp[k])) for k in INPUT_NAMES},
                        "outputs": {k: arr(out[k], "f32") for k in OUTPUT_NAMES}})
    return entries


def recorded_run(init: State, runner: Callable, prm: SamplerParams, seed: int):
    """A whole generation with its draws recorded: (json without the prompt fields, final state)."""
    draws = RecordedDraws(inner=Draws(seed))
    final = run_many([init], runner, prm, [draws])[0]
    return {"params": params_json(prm), "initial": fixture_state(init), "uniforms": arr(draws.used_u, "f64"),
            "normals": arr(draws.used_n, "f32"), "final": fixture_state(final)}, final


def make_tiny_golden(out: Path):
    """``packages/sampler/fixtures``: a tiny randomly-initialised OneFlowNet (same architecture and
    vocabulary as the shipped model, smaller widths) exported to ``tiny-model/`` (model.onnx +
    config.json, a model directory) and ``golden-tiny.json``."""
    import torch

    from training.export import export_onnx, write_config
    from training.model import ModelConfig, OneFlowNet
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(VOCAB), d_model=32, n_layers=1, n_heads=2, d_ff=64, max_tokens=40, chans=(8, 16))
    model = OneFlowNet(cfg).eval()
    with torch.no_grad():  # the output conv starts at zero; give the velocity head some signal
        model.outc.weight.normal_(0, 0.05)
        model.outc.bias.normal_(0, 0.05)
        model.head_pi.bias.fill_(-2.0)  # and insert often, images included, so the run has text and images
        model.head_lam.bias.fill_(1.5)
        model.head_q.bias[STOI[IMAGE]] += 3.0
    model_dir = out / "tiny-model"
    model_dir.mkdir(exist_ok=True)
    onnx_path = model_dir / "model.onnx"
    export_onnx(model, str(onnx_path))
    sha = sha256(onnx_path)
    write_config(model, model_dir, {"seed": 0, "note": "randomly initialised, for tests only"})
    spec = {"name": "tiny-model", "onnx_sha256": sha, "vocab": VOCAB,
            "special_tokens": {"pad": STOI[PAD], "bos": STOI[BOS], "sep": STOI[SEP], "image": STOI[IMAGE]},
            "never_insert": list(V1_SPEC.never_insert), "latent_shape": list(V1_SPEC.latent_shape),
            "max_tokens": cfg.max_tokens}
    rng = np.random.default_rng(1234)
    runner = OrtRunner(str(onnx_path), threads=1)

    # forward parity: two padded batches
    def words(*ws):
        return [STOI[x] for x in ws]
    st_a = initial_state(["count", "from", "two", "to", "five"])
    st_b = initial_state([Img(0, rng.uniform(-1, 1, size=V1_SPEC.latent_shape).astype(np.float32)),
                          "what", "is", "this", "?"])
    st_b.tokens += words("a", IMAGE, "seven")
    st_b.images.append(random_latent(rng, V1_SPEC, 0.25))
    forward = forward_entries([[st_a], [st_a, st_b, unconditional(st_b), text_free(st_b)]], runner)

    # single steps with synthetic outputs and explicit draws
    cases = StepCases(rng)
    s0 = initial_state(["draw", "a", "seven"])
    cases.add("first step, no guidance", s0, SamplerParams(steps=4))
    s1 = initial_state([Img(0, rng.uniform(-1, 1, size=V1_SPEC.latent_shape).astype(np.float32)), "describe", "this"])
    s1.tokens += words("a", IMAGE, "small", IMAGE, "digit")
    s1.t_text = 0.5
    s1.images += [random_latent(rng, V1_SPEC, 0.25), random_latent(rng, V1_SPEC, 0.9)]
    cases.add("guided, prompt image, images denoising", s1, SamplerParams(steps=8, w=2.0, temperature=0.7))
    cases.add("guided w=0.5, top-k 3", s1, SamplerParams(steps=8, w=0.5, top_k=3))
    cases.add("image guidance only (text-free twin)", s1, SamplerParams(steps=8, w_image=3.0))
    cases.add("text and image guidance", s1, SamplerParams(steps=8, w=1.5, w_image=2.5, temperature=0.7))
    s2 = initial_state(["count", "to", "four"])
    s2.tokens += words("one", "two", "three")
    s2.t_text = 0.1
    cases.add("many insertions (high rates)", s2, SamplerParams(steps=2, temperature=1.3), pi_scale=3.0, lam_shift=3.0)
    cases.add("length cap within the step", s2, SamplerParams(steps=2, max_len=10), pi_scale=3.0, lam_shift=3.0)
    cases.add("image cap", s1, SamplerParams(steps=2, max_images=3), pi_scale=3.0, lam_shift=3.0)
    s3 = initial_state(["draw", "a", "two"])
    s3.tokens += words(IMAGE)
    s3.t_text = 1.0
    s3.images.append(random_latent(rng, V1_SPEC, 0.95))
    cases.add("text done, last image step", s3, SamplerParams(steps=16, w=3.0))
    cases.add("text done, last image step, image guidance", s3, SamplerParams(steps=16, w=3.0, w_image=2.0))
    s4 = initial_state(["draw"])
    s4.t_text = 1.0 - 1.0 / 3.0 + 1e-12
    cases.add("text clock closes", s4, SamplerParams(steps=3), pi_scale=3.0, lam_shift=3.0)

    # a whole guided generation through the tiny model with recorded draws
    prm = SamplerParams(steps=6, w=2.0, temperature=0.8, max_len=24, max_images=3, w_image=2.5)
    run, final = recorded_run(initial_state(["count", "from", "two", "to", "four"]), runner, prm, 7)

    golden = {"about": FIXTURE_ABOUT, "model": spec, "forward": forward, "steps": cases.cases, "run": run}
    (out / "golden-tiny.json").write_text(json.dumps(golden))
    print(f"wrote {out / 'golden-tiny.json'}: {len(cases.cases)} step cases, run of {len(final.tokens)} tokens "
          f"{len(final.images)} images, model {sha[:12]} {onnx_path.stat().st_size} bytes")


PROMPTS_V2 = ["draw a seven", "Draw a RED seven, please!", "<image> what is this ?", "count from two to four",
              "what colour is <image>? Zebra-stripes & café", "  two  spaces\tand a tab", "ＦＵＬＬ width ①"]


def write_fixture_golden_v2(model_dir: Path, test_pixels: np.ndarray):
    """``<model_dir>/golden.json`` for a contract-version-2 model directory (config.json, tokenizer.json,
    model.onnx, encoder.onnx, decoder.onnx), in the fixture format, plus two sections:
      text   prompt strings -> token ids (encode without added special tokens), and id sequences ->
             text (decode keeping special tokens): tokenizer parity
      codec  ``test_pixels`` [N, C, H, W] -> encoder latents, and those latents -> decoder pixels
    A float16 model's forward inputs are values float16 holds exactly (the runtime converts them at
    the boundary); its outputs are float16 values widened to float32."""
    from training.contract import decode_text, encode_prompt, load_tokenizer, spec_from_config
    from training.sample import ort_session, prompt_state

    cfg = json.loads((model_dir / "config.json").read_text())
    tokenizer = load_tokenizer(model_dir / cfg["tokenizer"]["file"])
    spec = spec_from_config(cfg, tokenizer)
    runner = OrtRunner(str(model_dir / cfg["onnx_file"]), threads=1)
    encoder = ort_session(model_dir / cfg["encoder"]["file"], threads=1)
    decoder = ort_session(model_dir / cfg["decoder"]["file"], threads=1)
    half = cfg["dtype"] == "float16"
    rng = np.random.default_rng(2024)
    vocab = [tokenizer.id_to_token(i) for i in range(spec.vocab_size)]
    model = {"name": cfg["name"], "contract_version": 2, "dtype": cfg["dtype"], "onnx_sha256": cfg["onnx_sha256"],
             "tokenizer_sha256": cfg["tokenizer"]["sha256"], "vocab_size": spec.vocab_size, "vocab": vocab,
             "special_tokens": {"pad": spec.pad, "bos": spec.bos, "sep": spec.sep, "image": spec.image},
             "special_token_names": cfg["special_tokens"], "never_insert": list(spec.never_insert),
             "latent_shape": list(spec.latent_shape), "image_shape": list(cfg["image_shape"]),
             "max_tokens": cfg["max_tokens"], "max_images": cfg["max_images"]}

    def ids(text: str) -> List[int]:
        return encode_prompt(tokenizer, text)

    # 1. codec parity: pixels -> latents -> pixels
    latents = encoder.run(["latent"], {"pixels": test_pixels})[0]
    decoded = decoder.run(["pixels"], {"latent": latents})[0]
    codec = {"tolerance": 1e-4,
             "encoder": {"pixels": arr(test_pixels, "f32"), "latent": arr(latents, "f32")},
             "decoder": {"latent": arr(latents, "f32"), "pixels": arr(decoded, "f32")}}

    # 2. tokenizer parity
    prompts = [{"text": text, "ids": ids(text)} for text in PROMPTS_V2]
    sequences = [[spec.bos] + ids("draw a seven") + [spec.sep] + ids(" a") + [spec.image], ids("Zebra & café"),
                 [spec.image, spec.image, spec.pad], list(range(4, 40))]
    decodes = [{"ids": seq, "text": decode_text(tokenizer, seq)} for seq in sequences]

    # 3. forward parity: two padded batches (a prompt image encoded from real pixels)
    def round_inputs(inp):
        if half:
            for name in ("images", "image_t"):
                inp[name] = inp[name].astype(np.float16).astype(np.float32)
        return inp
    st_a = prompt_state(ids("count from two to four"), [], spec)
    st_b = prompt_state(ids("<image> what is this ?"), [latents[0]], spec)
    st_b.tokens += ids(" a") + [spec.image] + ids(" seven")
    st_b.images.append(random_latent(rng, spec, 0.25))
    forward = forward_entries([[st_a], [st_a, st_b, unconditional(st_b), text_free(st_b)]], runner, round_inputs)

    # 4. single steps with synthetic outputs and explicit draws
    cases = StepCases(rng)
    cases.add("first step, no guidance", prompt_state(ids("draw a seven"), [], spec), SamplerParams(steps=4))
    s1 = prompt_state(ids("<image> describe this"), [latents[1]], spec)
    s1.tokens += ids(" a") + [spec.image] + ids(" small") + [spec.image]
    s1.t_text = 0.5
    s1.images += [random_latent(rng, spec, 0.25), random_latent(rng, spec, 0.9)]
    cases.add("text guidance, prompt image, images denoising", s1, SamplerParams(steps=8, w=2.0, temperature=0.7))
    cases.add("image guidance only (text-free twin)", s1, SamplerParams(steps=8, w_image=3.0))
    cases.add("text and image guidance, top-k 3", s1, SamplerParams(steps=8, w=1.5, w_image=2.5, top_k=3))
    cases.add("many insertions, image cap", s1, SamplerParams(steps=2, max_images=3), pi_scale=3.0, lam_shift=3.0)
    s2 = prompt_state(ids("count to four"), [], spec)
    s2.tokens += ids(" one two three")
    s2.t_text = 0.1
    cases.add("length cap within the step", s2, SamplerParams(steps=2, max_len=len(s2.tokens) + 2),
              pi_scale=3.0, lam_shift=3.0)
    s3 = prompt_state(ids("draw a two"), [], spec)
    s3.tokens += [spec.image]
    s3.t_text = 1.0
    s3.images.append(random_latent(rng, spec, 0.95))
    cases.add("text done, last image step, image guidance", s3, SamplerParams(steps=16, w=3.0, w_image=2.0))

    # 5. a whole guided generation through the model, a prompt image included
    prompt = "<image> what colour is this ?"
    prm = SamplerParams(steps=6, w=2.0, temperature=0.8, max_len=32, max_images=3, w_image=2.5)
    init = prompt_state(ids(prompt), [latents[2]], spec)
    run, final = recorded_run(init, runner, prm, 7)
    run = {"prompt": prompt, "prompt_ids": ids(prompt), **run,
           "final_text": decode_text(tokenizer, final.tokens[final.prompt_len:]), "latent_tolerance": 1e-3}

    # float16 outputs may differ by one float16 step between runtimes (about 1e-2 at |x| ~ 16)
    tolerance = 2e-2 if half else 1e-4
    golden = {"about": FIXTURE_ABOUT, "model": model, "forward_tolerance": tolerance,
              "text": {"prompts": prompts, "decodes": decodes},
              "codec": codec, "forward": forward, "steps": cases.cases, "run": run}
    (model_dir / "golden.json").write_text(json.dumps(golden))
    print(f"wrote {model_dir / 'golden.json'}: {len(cases.cases)} step cases, run of {len(final.tokens)} tokens "
          f"{len(final.images)} images: {run['final_text']!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a shipped model directory: writes <model>/golden/")
    ap.add_argument("--tiny", help="the sampler's fixtures directory: writes tiny-model/ and golden-tiny.json")
    a = ap.parse_args(argv)
    if a.model is None and a.tiny is None:
        a.model = "models/oneflow-toy-v1"
    if a.model:
        make_model_golden(Path(a.model))
    if a.tiny:
        make_tiny_golden(Path(a.tiny))


if __name__ == "__main__":
    main()
