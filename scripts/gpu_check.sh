#!/usr/bin/env bash
# The GPU check in one command, for a bare GPU machine without network.
#
#   bash ../shared/gpu/fetch-wheels.sh .whl     # beforehand, where a registry is reachable
#   bash scripts/gpu_check.sh                   # on the GPU machine, from the project root
#   GPU_ID=-1 STEPS=2 RAW_STEPS=2 bash scripts/gpu_check.sh   # the same steps on the CPU
#
# Installs the wheels in .whl/ and the project into a target folder, runs the
# GPU tests, trains each of $CONFIGS (the recurrent default and the Transformer)
# for $BUDGET seconds with --gpu-id $GPU_ID
# (tokens/s, test ROUGE-L, then decodes the test split on the GPU: docs/s),
# with mixed precision off and on, and runs the plain PyTorch loop of the
# same model size and batch shapes as configs/summarizer.cfg for the ratio of
# ours to it, and the cost of a decoding step of both architectures as the
# output grows (the Transformer's key/value cache working). The figures land
# in $OUT as JSON and are printed.
#
# GPU_ID=-1 is the CPU mode (tests/test_scripts.py runs it): the same training
# and benchmark steps in the current environment, so that a GPU machine only
# adds CUDA. It installs no wheels and skips nvidia-smi, the GPU tests (they
# skip without CUDA) and mixed precision on (CUDA autocast); the
# --no-mixed-precision flag is still passed.
#
# Settings (environment variables):
#   GPU_ID=0  WHEELS=.whl  SITE=/tmp/site  OUT=gpu_check  PYTHON=python3
#   CONFIGS="configs/summarizer.cfg configs/summarizer_transformer.cfg" (space-separated)
#   BUDGET=300  RAW_BUDGET=120 (seconds)  STEPS=0  RAW_STEPS=0 (updates, if sooner; 0: no limit)
#   DECODE_STEPS=120 (decoding steps timed)
#   DATA=$SPACY_SEQ2SEQ_DATA/reuters21578_headlines (the data root: ../shared/data by default)
set -euo pipefail
cd "$(dirname "$0")/.."

GPU_ID=${GPU_ID:-0}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-gpu_check}
PYTHON=${PYTHON:-python3}
CONFIGS=${CONFIGS:-configs/summarizer.cfg configs/summarizer_transformer.cfg}
BUDGET=${BUDGET:-300}
RAW_BUDGET=${RAW_BUDGET:-120}
STEPS=${STEPS:-0}
RAW_STEPS=${RAW_STEPS:-0}
DECODE_STEPS=${DECODE_STEPS:-120}
DATA=${DATA:-${SPACY_SEQ2SEQ_DATA:-../shared/data}/reuters21578_headlines}

if [ "$GPU_ID" -ge 0 ] && ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "No wheels in $WHEELS/: run bash ../shared/gpu/fetch-wheels.sh $WHEELS where a registry is reachable." >&2
    exit 1
fi
if [ ! -f "$DATA/train.jsonl.gz" ]; then
    echo "No Reuters headline data at $DATA (set DATA=... or SPACY_SEQ2SEQ_DATA=...)." >&2
    exit 1
fi
if [ "$GPU_ID" -ge 0 ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
        --target "$SITE" "$WHEELS"/*.whl .
    export PYTHONPATH="$SITE"
    nvidia-smi -L
    echo "== pytest -m gpu"
    "$PYTHON" -m pytest -m gpu -x -q -p no:cacheprovider tests
    MIXED_PRECISION="false true"
else
    echo "== CPU mode: the current environment; no wheels, nvidia-smi, GPU tests or mixed precision"
    MIXED_PRECISION=false
fi
mkdir -p "$OUT"

for config in $CONFIGS; do
    name=$(basename "$config" .cfg)
    for mixed_precision in $MIXED_PRECISION; do
        flag=--no-mixed-precision
        [ "$mixed_precision" = true ] && flag=--mixed-precision
        echo "== $name: train ${BUDGET}s (or $STEPS updates) with --gpu-id $GPU_ID, mixed precision $mixed_precision"
        "$PYTHON" scripts/benchmark_summarizer.py "$config" \
            --budget "$BUDGET" --steps "$STEPS" --eval-every "$BUDGET" --gpu-id "$GPU_ID" \
            "$flag" --data-dir "$DATA" --output "$OUT/train_${name}_mixed_precision_$mixed_precision.json"
    done
done

echo "== plain PyTorch loop vs ours, ${RAW_BUDGET}s (or $RAW_STEPS updates) each"
"$PYTHON" scripts/benchmark_raw_torch.py configs/summarizer.cfg \
    --budget "$RAW_BUDGET" --steps "$RAW_STEPS" --gpu-id "$GPU_ID" --data-dir "$DATA" \
    --output "$OUT/raw_torch.json"

echo "== the cost of a decoding step as the output grows, both architectures (CPU)"
"$PYTHON" scripts/benchmark_decoding_steps.py configs/summarizer.cfg \
    configs/summarizer_transformer.cfg --steps "$DECODE_STEPS" --output "$OUT/decoding_steps.json"

for figures in "$OUT"/*.json; do
    echo "== $figures"
    cat "$figures"
done
