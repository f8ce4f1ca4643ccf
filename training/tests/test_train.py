"""Training loop: data-parallel CPU processes train the same model as one process."""
import json

import numpy as np
import pytest
import torch

from training.data import DocSampler, load_images
from training.model_io import torch_load
from training.train import Stream, TrainConfig, main

TINY = {"seed": 3, "steps": 12, "batch_size": 8, "lr": 0.003, "warmup": 3, "threads": 1, "log_every": 4,
        "ckpt_every": 6, "bucket_chunks": 2,
        "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "chans": [8, 16], "rope": True}}


def test_rank_shares_cover_the_batch_and_normalise_the_image_loss():
    cfg = TrainConfig.from_json(None, batch_size=8)
    st = Stream(cfg, DocSampler(load_images(0)))
    full = st.batch(5)
    a, b = st.batch(5, 0, 2), st.batch(5, 1, 2)
    assert len(a["tokens"]) == len(b["tokens"]) == 4
    assert int(a["img_loss_mask"].sum() + b["img_loss_mask"].sum()) == int(full["img_loss_mask"].sum())
    scored = max(1, int(full["img_loss_mask"].sum()))
    assert float(full["img_norm"]) == scored and float(a["img_norm"]) == float(b["img_norm"]) == scored / 2
    # rank 0 takes examples 0, 2, 4, 6 of the step's batch
    n0 = int(a["token_mask"][1].sum())
    assert torch.equal(a["tokens"][1, :n0], full["tokens"][2, :n0])


def test_text_drop_off_leaves_the_stream_unchanged_and_on_makes_text_free_examples():
    base = Stream(TrainConfig.from_json(None, batch_size=16), DocSampler(load_images(0))).batch(3)
    off = Stream(TrainConfig.from_json(None, batch_size=16, text_drop=0.0), DocSampler(load_images(0))).batch(3)
    assert torch.equal(base["tokens"], off["tokens"]) and torch.equal(base["images"], off["images"])
    assert base["text_weight"].tolist() == [1.0] * 16
    on = Stream(TrainConfig.from_json(None, batch_size=16, cond_drop=0.0, text_drop=1.0), DocSampler(load_images(0))).batch(3)
    assert on["text_weight"].tolist() == [0.0] * 16
    for row, mask in zip(on["tokens"], on["token_mask"]):
        assert set(row[mask].tolist()) <= {1, 2, 3}  # <bos>, <sep>, <image> only


def test_caption_parity_reaches_the_training_documents():
    from training.train import train_docs
    assert train_docs(TrainConfig.from_json(None)).parity_share is None
    cfg = TrainConfig.from_json(None, caption_parity=1.0)
    ds, rng = train_docs(cfg), np.random.default_rng(0)
    asked = [ds.caption(rng, cls=c % 10)[0][3] for c in range(20)]
    assert set(asked) == {"odd", "even"}


def test_two_processes_train_the_same_weights_as_one(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    main(["--config", str(cfg), "--run-dir", str(tmp_path / "one"), "--procs", "1"])
    main(["--config", str(cfg), "--run-dir", str(tmp_path / "two"), "--procs", "2"])
    one, two = torch_load(tmp_path / "one" / "ckpt.pt"), torch_load(tmp_path / "two" / "ckpt.pt")
    assert one["step"] == two["step"] == 12
    # the same updates up to float rounding (Adam turns rounding noise in near-zero gradients, e.g.
    # conv biases in front of a GroupNorm, into lr-sized steps, so weights agree to ~lr, not 1e-6)
    for k, v in one["model"].items():
        assert torch.allclose(v, two["model"][k], atol=TINY["lr"]), k
    log = (tmp_path / "two" / "train.log").read_text()
    assert "processes 2" in log and "step 12 loss" in log
    loss = lambda p: [ln.split()[3] for ln in (p / "train.log").read_text().splitlines() if ln.startswith("step")]
    assert np.allclose(np.float64(loss(tmp_path / "one")), np.float64(loss(tmp_path / "two")), atol=2e-4)


def test_procs_must_divide_the_batch(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "batch_size": 9}))
    with pytest.raises(ValueError, match="divide batch_size"):
        main(["--config", str(cfg), "--run-dir", str(tmp_path / "x"), "--procs", "2"])
