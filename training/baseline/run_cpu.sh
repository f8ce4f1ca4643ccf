#!/usr/bin/env bash
# The comparison on this machine's CPU (configs/*-cpu.json: the v1 CPU recipe's model, batch 64,
# 1000 steps of a 2000-step schedule; 1 torch thread per process, 2 processes): ~2 h on 2 cores.
set -euo pipefail
exec bash "$(dirname "$0")/pipeline.sh" cpu cpu all
