#!/usr/bin/env bash
# Optional: the same train.py on a CUDA GPU (bf16 autocast), for the device machine that some tasks are lent.
# Run from the repository root: MIN=6.5 bash tools/model/gpu_train.sh   (OUT = folder that receives the checkpoint)
# TARGET=pointer (default: [n] targets, make_data.py defaults) or TARGET=answer (the earlier answer-text model).
# Carries its own transformers/tokenizers wheels (tools/model/data/wheels) so the checkpoint format matches the venv.
set -euo pipefail
cd tools/model
OUT=${OUT:-runs/gpu_out}; mkdir -p "$OUT"
MIN=${MIN:-6.5}; DEV=${DEV:-cuda}; PY=${PY:-python3}
if ls data/wheels/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site data/wheels/*.whl
  export PYTHONPATH=/tmp/site
fi
$PY -c "import transformers, torch; print('transformers', transformers.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
$PY make_data.py --out data/gpu --train-companies ${COMPANIES:-1500} --per-company ${PER:-150} --noise ${NOISE:-0} --target ${TARGET:-pointer} | tee "$OUT/data.log"
PYTHONUNBUFFERED=1 $PY train.py --data data/gpu --name gpu --device $DEV ${BF16:---bf16} --threads 8 --batch ${BATCH:-64} --lr ${LR:-1e-3} --warmup ${WARMUP:-300} ${INIT:+--init $INIT} \
  --steps 1000000 --minutes $MIN --time-schedule --eval-every ${EVAL_EVERY:-500} --eval-n 256 --save-every 1000000 \
  --log-every 100 2>&1 | grep -v -i warning | tee "$OUT/train.log"
cp runs/gpu/best/config.json runs/gpu/best/best.json runs/gpu/best/model*.safetensors* "$OUT/"
ls -la "$OUT"
