#!/usr/bin/env bash
# The GPU measurements of issues 3 and 4 in one run, on a machine with only torch, numpy, pandas and
# OpenCV (no MediaPipe): pix2pix training throughput (reference vs ours vs ours + compile, 512 px,
# batch 32), GANonymization throughput on the stored demo landmarks, and the expression classifiers'
# training throughput (ConvNeXt-base, 224 px, batch 32: authors' fp32 vs ours).
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR]     # needs data/processed/demo (./run_all.sh makes it)
#   SMOKE=1 PYTHON=.venv/bin/python bash benchmarks/gpu_checks.sh   # the same scripts, tiny, on the CPU
#
#   ONLY="train_classifier_gpu anonymize_gpu" bash benchmarks/gpu_checks.sh OUT_DIR   # a subset (e.g. a rerun)
#
# Prints everything and, with OUT_DIR, also writes train_gpu.txt / anonymize_gpu.txt / train_classifier_gpu.txt there.
# Typical time on one H200 is a few minutes; the timeouts below add up to 550 s at most.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-}"
[[ -n "$out" ]] && mkdir -p "$out"
python=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
"$python" -c 'import torch; print("torch", torch.__version__, "| cuda", torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
run() {  # name, command...
  local name=$1; shift
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then echo "== $name: skipped (ONLY=$ONLY)"; return; fi
  echo "== $name: $*"
  if [[ -n "$out" ]]; then "$@" 2>&1 | tee "$out/$name.txt"; else "$@"; fi
}
if [[ -n "${SMOKE:-}" ]]; then
  run train_gpu "$python" benchmarks/train_gpu.py --device cpu --image-size 256 --batch-size 2 --steps 1
  run anonymize_gpu "$python" benchmarks/anonymize.py --stored-landmarks --faces 2 --batch-size 2 --device cpu
  run train_classifier_gpu "$python" benchmarks/train_classifier.py --device cpu --architecture convnext_tiny \
    --image-size 32 --batch-size 2 --steps 1
else
  run train_gpu timeout 300 "$python" benchmarks/train_gpu.py
  run anonymize_gpu timeout 150 "$python" benchmarks/anonymize.py --stored-landmarks --faces 32 --batch-size 16 --device cuda
  run train_classifier_gpu timeout 100 "$python" benchmarks/train_classifier.py --device cuda
fi
