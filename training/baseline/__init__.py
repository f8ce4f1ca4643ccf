"""The autoregressive + flow-matching baseline and the OneFlow-vs-baseline comparison (README.md here)."""
