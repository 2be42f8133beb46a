#!/usr/bin/env python3
"""Spot check of the model card's quality figure: ROC AUC of cosine for same-meaning ATEC pairs (Chinese customer
service questions, ../shared/data/atec; test data, never shipped), multilingual-e5-small q4 vs all-MiniLM-L6-v2 q8,
both embedded as the product embeds them (one text per run, the folder's prefix, mean pooling, L2 norm).

Usage: tools/embed/.venv-e5/bin/python tools/embed/e5/atec_auc.py [pairs=2000]   (about a minute on one core)
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
ATEC = ROOT.parent / "shared" / "data" / "atec" / "atec_nlp_sim_train.csv"
MODELS = [("multilingual-e5-small", "model_q4.onnx", 512), ("all-MiniLM-L6-v2", "model_quantized.onnx", 256)]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    scores = np.concatenate([pos, neg])
    ranks = scores.argsort().argsort() + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rows = []
    for line in ATEC.read_text(encoding="utf-8-sig").splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[3] in ("0", "1"):
            rows.append((parts[1], parts[2], int(parts[3])))
    pairs = random.Random(0).sample(rows, n)
    labels = np.array([p[2] for p in pairs])
    out = {"pairs": n, "positives": int(labels.sum()), "seed": 0}
    for name, onnx_file, max_tokens in MODELS:
        folder = ROOT / "models" / name
        settings = folder / "kvcache.json"
        prefix = json.loads(settings.read_text())["queryPrefix"] if settings.exists() else ""
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(folder / "onnx" / onnx_file), so, providers=["CPUExecutionProvider"])
        names = {i.name for i in sess.get_inputs()}

        def embed(text: str) -> np.ndarray:
            x = np.array([tok.encode(prefix + text).ids[:max_tokens]], dtype=np.int64)
            feeds = {"input_ids": x, "attention_mask": np.ones_like(x)}
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(x)
            v = sess.run(["last_hidden_state"], feeds)[0][0].astype(np.float64).mean(0)
            return v / np.linalg.norm(v)

        t0 = time.perf_counter()
        cos = np.array([float(embed(a) @ embed(b)) for a, b, _ in pairs])
        out[name] = {
            "auc": round(auc(cos[labels == 1], cos[labels == 0]), 4),
            "mean_cos_same": round(float(cos[labels == 1].mean()), 4),
            "mean_cos_different": round(float(cos[labels == 0].mean()), 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
