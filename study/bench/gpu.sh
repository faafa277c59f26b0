#!/usr/bin/env bash
# The bench on one GPU, as one prepared script of a few minutes (rows a and d and the backbone speeds were
# measured on an H200: docs/performance.md; its Ray rows need Ray there). Run from the repository root with the venv active:
#
#     OUT=/tmp/gpu-bench bash study/bench/gpu.sh
#
# It writes to $OUT: the GPU's name, its utilisation sampled each second, the bench's rows a, b, d
# with --device cuda (bf16 autocast and channels_last are what trials use on CUDA: study/trial/engine.py;
# pinned memory: the trial's loader pins on CUDA), images/s per paper backbone at 224 px for
# fine_tune (train) and off_the_shelf (feature extraction = eval), and a smoke run of two trials
# sharing the GPU through --gpus-per-trial 0.5.
set -euo pipefail
OUT=${OUT:-gpu-bench}
mkdir -p "$OUT"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ARTSTUDY_CACHE=${ARTSTUDY_CACHE:-$OUT/cache} PYTHONPATH=${PYTHONPATH:-$PWD}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 1 > "$OUT/utilisation.csv" &
sampler=$!
trap 'kill "$sampler"' EXIT

python -m study.bench --device cuda --quick --json --only abd --backbones --size 224 2>"$OUT/bench.err" | tee "$OUT/bench.txt"
start=$(date +%s)
python -m study.run --space smoke --set model=resnet50 image_size=224 max_epochs=3 patience=3 \
    --gpus-per-trial 0.5 --storage "$OUT/results" --name shared-gpu > "$OUT/shared-gpu.txt" 2>&1
echo "two trials sharing one GPU (--gpus-per-trial 0.5): $(( $(date +%s) - start )) s" | tee -a "$OUT/bench.txt"
awk -F', ' '{gsub(/ %/, "", $2); s += $2; n++} END {printf "GPU utilisation: mean %.0f%% over %d s\n", s / n, n}' \
    "$OUT/utilisation.csv" | tee -a "$OUT/bench.txt"
