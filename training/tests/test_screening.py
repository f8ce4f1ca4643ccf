"""The screening table is rendered from evaluator outputs, never typed by hand."""
import json

from training.screening import main


def test_table_comes_from_the_eval_files(tmp_path):
    cfg = {"model": {"d_model": 128, "n_layers": 4, "chans": [24, 48], "rope": True}, "mix": [0.3, 0.2, 0.05, 0.2, 0.1, 0.05, 0.1], "batch_size": 384, "steps": 5000, "lr": 0.003}
    (tmp_path / "V9.config.json").write_text(json.dumps(cfg))
    checks = {c: {"value": v} for c, v in zip(
        ["text_to_image", "caption_vqa", "interleaved_count", "interleaved_consistency", "concurrent_agreement"],
        [0.92, 0.785, 0.875, 0.7369, 0.805])}
    (tmp_path / "V9b.eval.json").write_text(json.dumps({"sampler": {"w": 1.5, "temperature": 0.3}, "checks": checks}))
    (tmp_path / "V9.train.log").write_text("# 2026 start at step 0/5000; params 1; torch x; threads 2; device cuda\n"
                                          "step 25 loss 1 text 1 img 1 lr 1 elapsed 3s\nstep 5000 loss 1 text 1 img 1 lr 1 elapsed 225s\n")
    main(["--dir", str(tmp_path)])
    md = (tmp_path / "README.md").read_text()
    assert "| V9b | cuda, 3.8 min | 128×4, convs 24/48, rotary positions | 30/20/5/20/10/5/10 | 384 | 5000 | 1.92M | 0.003 | w=1.5, T=0.3 | 92.0% | 78.5% | 87.5% | 73.7% | 80.5% |" in md
