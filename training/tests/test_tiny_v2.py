"""training.tiny_v2: the contract-version-2 fixtures (a fast run into a temp dir, and the committed ones)."""
import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.contract import (INPUT_NAMES, OUTPUT_NAMES, check_model_dir, graph_signature, load_tokenizer,
                               spec_from_config)
from training.golden import ARRAY_TYPES
from training.model_io import sha256
from training.sample import (ImageSlot, OrtRunner, Outputs, RecordedDraws, SamplerParams, State, ort_session,
                             run_many, step, unpack)
from training.tiny_v2 import TinyV2Config, make

REPO = Path(__file__).resolve().parents[2]
COMMITTED = [REPO / "packages" / "runtime" / "fixtures" / name for name in ("tiny-v2", "tiny-v2-fp16")]
FILES = ["config.json", "decoder.onnx", "encoder.onnx", "golden.json", "model.onnx", "tokenizer.json"]
FLOAT16, FLOAT32 = 10, 1


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("v2") / "tiny-v2"
    cfg = TinyV2Config(out=str(out), n_texts=300, codec_images=256, codec_steps=20)
    return make(cfg)


def array(j):
    return np.frombuffer(base64.b64decode(j["b64"]), ARRAY_TYPES[j["dtype"]]).reshape(j["shape"])


def state(j, spec):
    return State(list(j["tokens"]), j["prompt_len"], [ImageSlot(array(im["latent"]).copy(), im["t"]) for im in j["images"]],
                 j["t_text"], j["capped"], spec)


def outputs(j):
    return None if j is None else Outputs(*(array(j[k]) for k in ("pi_logit", "log_lambda", "q_logprobs", "velocity")))


def replay_golden(model_dir: Path):
    """Every section of golden.json against the Python reference and ONNX Runtime."""
    cfg = json.loads((model_dir / "config.json").read_text())
    golden = json.loads((model_dir / "golden.json").read_text())
    tokenizer = load_tokenizer(model_dir / "tokenizer.json")
    spec = spec_from_config(cfg, tokenizer)
    model = golden["model"]
    assert (model["contract_version"], model["dtype"], model["onnx_sha256"]) == (2, cfg["dtype"], cfg["onnx_sha256"])
    assert model["vocab_size"] == len(model["vocab"]) == cfg["vocab_size"]
    assert model["special_tokens"] == {"pad": 0, "bos": 1, "sep": 2, "image": 3}
    assert model["latent_shape"] == cfg["latent_shape"] == [4, 4, 4]
    # text
    for p in golden["text"]["prompts"]:
        assert tokenizer.encode(p["text"], add_special_tokens=False).ids == p["ids"]
    assert any("<image>" in p["text"] for p in golden["text"]["prompts"])
    for d in golden["text"]["decodes"]:
        assert tokenizer.decode(d["ids"], skip_special_tokens=False) == d["text"]
    # codec
    encoder, decoder = ort_session(model_dir / "encoder.onnx", 1), ort_session(model_dir / "decoder.onnx", 1)
    codec = golden["codec"]
    latent = encoder.run(["latent"], {"pixels": array(codec["encoder"]["pixels"])})[0]
    assert np.max(np.abs(latent - array(codec["encoder"]["latent"]))) < codec["tolerance"]
    pixels = decoder.run(["pixels"], {"latent": array(codec["decoder"]["latent"])})[0]
    assert np.max(np.abs(pixels - array(codec["decoder"]["pixels"]))) < codec["tolerance"]
    # forward
    runner = OrtRunner(str(model_dir / "model.onnx"), threads=1)
    for entry in golden["forward"]:
        inp = {k: array(entry["inputs"][k]) for k in INPUT_NAMES}
        out = runner(inp)
        tm, im = inp["token_mask"], inp["image_mask"]
        for k, mask in [("pi_logit", tm), ("log_lambda", tm), ("q_logprobs", tm), ("velocity", im)]:
            diff = np.abs(out[k][mask] - array(entry["outputs"][k])[mask])
            assert np.max(diff, initial=0.0) < golden["forward_tolerance"], k
    # steps: exact
    names = [c["name"] for c in golden["steps"]]
    assert any(c["text_free"] for c in golden["steps"]) and any(c["params"]["w"] != 1 for c in golden["steps"])
    for c in golden["steps"]:
        d = RecordedDraws(array(c["uniforms"]).tolist(), array(c["normals"]).tolist())
        prm = SamplerParams(**c["params"])
        new = step(state(c["before"], spec), outputs(c["cond"]), outputs(c["uncond"]), prm, d, outputs(c["text_free"]))
        after = c["after"]
        assert new.tokens == after["tokens"], c["name"]
        assert (new.t_text, new.capped) == (after["t_text"], after["capped"])
        for im, ej in zip(new.images, after["images"]):
            assert im.t == ej["t"] and np.array_equal(im.latent, array(ej["latent"]))
        assert d.u == [] and d.n == []
    # run: tokens exactly, latents within the tolerance
    run = golden["run"]
    assert tokenizer.encode(run["prompt"], add_special_tokens=False).ids == run["prompt_ids"]
    init = state(run["initial"], spec)
    assert init.tokens == [spec.bos] + run["prompt_ids"] + [spec.sep]
    draws = RecordedDraws(array(run["uniforms"]).tolist(), array(run["normals"]).tolist())
    final = run_many([init], runner, SamplerParams(**run["params"]), [draws])[0]
    assert final.tokens == run["final"]["tokens"]
    assert len(final.images) > init.n_prompt_images  # the run generates images
    for im, ej in zip(final.images, run["final"]["images"]):
        assert np.max(np.abs(im.latent - array(ej["latent"]))) < run["latent_tolerance"]
    assert tokenizer.decode(final.tokens[final.prompt_len:], skip_special_tokens=False) == run["final_text"]
    return names


def test_files_config_and_hashes(fixtures):
    for d, external in zip(fixtures, ([], ["model.onnx.data"])):  # the fp16 twin keeps its weights in external data
        assert sorted(p.name for p in d.iterdir()) == sorted(FILES + external)
        cfg = check_model_dir(d)  # the contract's load-time rules
        assert [e["file"] for e in cfg.get("onnx_external_data", [])] == external
        assert cfg["onnx_sha256"] == sha256(d / "model.onnx") and cfg["tokenizer"]["sha256"] == sha256(d / "tokenizer.json")
        assert cfg["image_shape"] == [3, 16, 16] and cfg["latent_shape"] == [4, 4, 4]
        assert 256 <= cfg["vocab_size"] <= 320 and 48 <= cfg["max_tokens"] <= 64
        assert set(cfg["sampler_defaults"]) == {"steps", "w", "w_image", "temperature", "top_k"}
    assert (fixtures[0] / "tokenizer.json").read_bytes() == (fixtures[1] / "tokenizer.json").read_bytes()


def test_onnx_signatures_and_dtypes(fixtures):
    full, half = (graph_signature(d / "model.onnx") for d in fixtures)
    assert list(full)[:6] == INPUT_NAMES and list(full)[6:] == OUTPUT_NAMES
    assert list(half) == list(full)
    for name in ("images", "image_t", "pi_logit", "log_lambda", "q_logprobs", "velocity"):
        assert full[name][0] == FLOAT32 and half[name][0] == FLOAT16, name
    assert full["images"][1] == ["B", "M", 4, 4, 4] and half["velocity"][1] == ["B", "M", 4, 4, 4]
    assert full["q_logprobs"][1][2] == json.loads((fixtures[0] / "config.json").read_text())["vocab_size"]


def test_encoder_decoder_shapes(fixtures):
    encoder = ort_session(fixtures[0] / "encoder.onnx", 1)
    decoder = ort_session(fixtures[0] / "decoder.onnx", 1)
    pixels = np.random.default_rng(0).uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)
    latent = encoder.run(["latent"], {"pixels": pixels})[0]
    assert latent.shape == (3, 4, 4, 4) and latent.dtype == np.float32
    back = decoder.run(["pixels"], {"latent": latent})[0]
    assert back.shape == (3, 3, 16, 16)


def test_golden_replays(fixtures):
    for d in fixtures:
        replay_golden(d)


def test_check_names_the_field(fixtures, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(fixtures[0], bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "vocab_size": cfg["vocab_size"] + 1}))
    with pytest.raises(ValueError, match="vocab_size"):
        check_model_dir(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "latent_shape": [4, 8, 8]}))
    with pytest.raises(ValueError, match="model.onnx: images has dims"):
        check_model_dir(bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    (bad / "decoder.onnx").write_bytes(b"changed")
    with pytest.raises(ValueError, match="decoder: sha256"):
        check_model_dir(bad)


@pytest.mark.parametrize("model_dir", COMMITTED, ids=lambda p: p.name)
def test_committed_fixture(model_dir):
    if not (model_dir / "config.json").exists():
        pytest.skip("fixture not generated")
    check_model_dir(model_dir)
    replay_golden(model_dir)


def test_committed_fixtures_fit_in_2mb():
    present = [d for d in COMMITTED if d.exists()]
    if not present:
        pytest.skip("fixtures not generated")
    assert sum(p.stat().st_size for d in present for p in d.iterdir()) < 2_000_000
