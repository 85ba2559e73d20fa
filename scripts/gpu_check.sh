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
# same model size and batch shapes for the ratio of ours to it. The figures
# land in $OUT as JSON and are printed. Settings (environment variables):
#   WHEELS=.whl  SITE=/tmp/site  OUT=gpu_check  BUDGET=300  RAW_BUDGET=120
#   DATA=../shared/data/reuters21578_headlines
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-gpu_check}
BUDGET=${BUDGET:-300}
RAW_BUDGET=${RAW_BUDGET:-120}
DATA=${DATA:-../shared/data/reuters21578_headlines}

if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "No wheels in $WHEELS/: run bash ../shared/gpu/fetch-wheels.sh $WHEELS where a registry is reachable." >&2
    exit 1
fi
if [ ! -f "$DATA/train.jsonl.gz" ]; then
    echo "No Reuters headline data at $DATA (set DATA=...)." >&2
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
        --data-dir "$DATA" --output "../$OUT/train_mixed_precision_$mixed_precision.json")
done

echo "== plain PyTorch loop vs ours, ${RAW_BUDGET}s each"
(cd scripts && python3 benchmark_raw_torch.py ../configs/summarizer.cfg \
    --budget "$RAW_BUDGET" --gpu-id 0 --data-dir "$DATA" --output "../$OUT/raw_torch.json")

for figures in "$OUT"/*.json; do
    echo "== $figures"
    cat "$figures"
done
