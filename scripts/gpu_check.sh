#!/usr/bin/env bash
# The GPU check in one command, for a bare GPU machine without network.
#
#   bash ../shared/gpu/fetch-wheels.sh .whl     # beforehand, where a registry is reachable
#   bash scripts/gpu_check.sh                   # on the GPU machine, from the project root
#
# Installs the wheels in .whl/ and the project into a target folder, runs the
# GPU tests, trains configs/summarizer.cfg for $BUDGET seconds with --gpu-id 0
# (tokens/s, test ROUGE-L, then decodes the test split on the GPU: docs/s),
# with mixed precision off and on, and runs the plain PyTorch loop of the
# same model size and batch shapes for the ratio of ours to it. Then both
# architectures side by side (configs/summarizer.cfg and
# summarizer_transformer.cfg, $STEPS updates each, mixed precision off and
# on: scripts/benchmark_architectures.py) and the cost of a decoding step as
# the output grows (scripts/benchmark_decoding_steps.py). The figures land in
# $OUT as JSON and are printed. Settings (environment variables):
#   WHEELS=.whl  SITE=/tmp/site  OUT=gpu_check  BUDGET=300  RAW_BUDGET=120
#   STEPS=1000  DATA=../shared/data/reuters21578_headlines
# Without a GPU (no nvidia-smi) it runs on the CPU what needs no GPU: the
# side-by-side runs without mixed precision and the decoding steps, in the
# Python environment it is started in (no wheels needed).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-gpu_check}
BUDGET=${BUDGET:-300}
RAW_BUDGET=${RAW_BUDGET:-120}
STEPS=${STEPS:-1000}
DATA=${DATA:-../shared/data/reuters21578_headlines}
# absolute: the benchmarks run from scripts/
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# both architectures at the same number of updates; the decoding step's cost
side_by_side() {
    local gpu_id=$1 precisions=$2
    for config in summarizer summarizer_transformer; do
        for mixed_precision in $precisions; do
            flag=--no-mixed-precision
            [ "$mixed_precision" = true ] && flag=--mixed-precision
            echo "== $config: $STEPS updates, gpu $gpu_id, mixed precision $mixed_precision"
            (cd scripts && python3 benchmark_architectures.py "../configs/$config.cfg" \
                --steps "$STEPS" --eval-every "$STEPS" --gpu-id "$gpu_id" "$flag" \
                --data-dir "$DATA" --output "$OUT/${config}_mixed_precision_$mixed_precision.json")
        done
    done
    echo "== decoding step cost as the output grows (CPU)"
    python3 scripts/benchmark_decoding_steps.py configs/summarizer.cfg \
        configs/summarizer_transformer.cfg --output "$OUT/decoding_steps.json"
}

if [ ! -f "$DATA/train.jsonl.gz" ]; then
    echo "No Reuters headline data at $DATA (set DATA=...)." >&2
    exit 1
fi
DATA=$(cd "$DATA" && pwd)
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "No GPU (nvidia-smi): the side-by-side runs on the CPU only."
    mkdir -p "$OUT"
    side_by_side -1 false
    for figures in "$OUT"/*.json; do
        echo "== $figures"
        cat "$figures"
    done
    exit 0
fi

if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "No wheels in $WHEELS/: run bash ../shared/gpu/fetch-wheels.sh $WHEELS where a registry is reachable." >&2
    exit 1
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --target "$SITE" "$WHEELS"/*.whl .
export PYTHONPATH="$SITE"
mkdir -p "$OUT"
nvidia-smi -L

echo "== pytest -m gpu"
python3 -m pytest -m gpu -x -q -p no:cacheprovider tests

for mixed_precision in false true; do
    flag=--no-mixed-precision
    [ "$mixed_precision" = true ] && flag=--mixed-precision
    echo "== train ${BUDGET}s on the GPU, mixed precision $mixed_precision"
    (cd scripts && python3 benchmark_summarizer.py ../configs/summarizer.cfg \
        --budget "$BUDGET" --eval-every "$BUDGET" --gpu-id 0 "$flag" \
        --data-dir "$DATA" --output "$OUT/train_mixed_precision_$mixed_precision.json")
done

echo "== plain PyTorch loop vs ours, ${RAW_BUDGET}s each"
(cd scripts && python3 benchmark_raw_torch.py ../configs/summarizer.cfg \
    --budget "$RAW_BUDGET" --gpu-id 0 --data-dir "$DATA" --output "$OUT/raw_torch.json")

side_by_side 0 "false true"

for figures in "$OUT"/*.json; do
    echo "== $figures"
    cat "$figures"
done
