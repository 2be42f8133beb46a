"""Export a checkpoint to the transformers.js layout in models/kvcache-t5-faq/ (int8 dynamic quantization).

  1. optimum (optimum-onnx) exports fp32 ONNX to tools/model/export_fp32/ (gitignored):
     encoder_model.onnx, decoder_model.onnx (no past), decoder_with_past_model.onnx, decoder_model_merged.onnx
  2. onnxruntime dynamic quantization, as transformers.js's own q8 script does for models without Conv:
     weights QInt8 per tensor, activations QUInt8 at run time, MatMulConstBOnly, subgraphs (the merged decoder's If).
     Written as onnx/*_quantized.onnx, which transformers.js loads for dtype 'q8'.
  3. config.json, generation_config.json and the tokenizer files are copied next to onnx/.

generation_config.json: greedy; max_new_tokens 8 for a pointer model (--mode pointer, the default: the output is
"[n]" = 4 tokens + </s>), 128 for an answer-text model (--mode answer). The product passes its own max_new_tokens.

Usage: python export.py --ckpt runs/pointer/best [--mode pointer|answer] [--out ../../models/kvcache-t5-faq]
"""

import argparse
import json
import os
import shutil

from onnxruntime.quantization import QuantType, quantize_dynamic
from optimum.exporters.onnx import main_export
from transformers import T5ForConditionalGeneration, T5TokenizerFast

from format import MAX_TARGET_TOKENS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_FILES = {  # fp32 name -> quantized name in onnx/
    "encoder_model.onnx": "encoder_model_quantized.onnx",
    "decoder_model_merged.onnx": "decoder_model_merged_quantized.onnx",
    "decoder_model.onnx": "decoder_model_quantized.onnx",
}
POINTER_MAX_NEW_TOKENS = 8
GEN_CONFIG = {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0, "max_new_tokens": MAX_TARGET_TOKENS,
              "do_sample": False, "num_beams": 1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "kvcache-t5-faq"))
    ap.add_argument("--fp32", default=os.path.join(HERE, "export_fp32"))
    ap.add_argument("--mode", choices=["pointer", "answer"], default="pointer")
    args = ap.parse_args()
    if args.mode == "pointer":
        GEN_CONFIG["max_new_tokens"] = POINTER_MAX_NEW_TOKENS

    # clean HF checkpoint (model + tokenizer + generation config) to export from
    src = os.path.join(args.fp32, "hf")
    shutil.rmtree(args.fp32, ignore_errors=True)
    model = T5ForConditionalGeneration.from_pretrained(args.ckpt).eval()
    tok = T5TokenizerFast.from_pretrained(args.ckpt)
    model.save_pretrained(src)
    tok.save_pretrained(src)
    json.dump(GEN_CONFIG, open(os.path.join(src, "generation_config.json"), "w"), indent=2)

    main_export(model_name_or_path=src, output=args.fp32, task="text2text-generation-with-past", device="cpu",
                do_validation=True)

    onnx_out = os.path.join(args.out, "onnx")
    os.makedirs(onnx_out, exist_ok=True)
    for f in os.listdir(onnx_out):
        if f.endswith(".onnx") or f.endswith(".onnx_data"):
            os.remove(os.path.join(onnx_out, f))
    for fp32, q in OUT_FILES.items():
        quantize_dynamic(os.path.join(args.fp32, fp32), os.path.join(onnx_out, q), per_channel=False,
                         reduce_range=False, weight_type=QuantType.QInt8,
                         extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True})

    # configs and tokenizer (transformers.js reads tokenizer.json + tokenizer_config.json)
    cfg = json.load(open(os.path.join(args.fp32, "config.json")))
    cfg.pop("_name_or_path", None)
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    json.dump(GEN_CONFIG, open(os.path.join(args.out, "generation_config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), os.path.join(args.out, f))

    total = 0
    for dp, _, fs in os.walk(args.out):
        for f in fs:
            total += os.path.getsize(os.path.join(dp, f))
            print(f"{os.path.relpath(os.path.join(dp, f), args.out):45s} {os.path.getsize(os.path.join(dp, f)) / 1e6:8.2f} MB")
    print(f"total {total / 1e6:.2f} MB")
    assert total <= 40 * 1024 * 1024, "models/kvcache-t5-faq must stay within 40 MB"


if __name__ == "__main__":
    main()
