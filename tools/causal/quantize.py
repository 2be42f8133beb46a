"""Block-wise weight-only quantization of an exported causal LM (export.py --full) for transformers.js:
onnxruntime's MatMulNBits for every MatMul (the lm_head too) and GatherBlockQuantized for the embedding, blocks
of 32 along the input axis, asymmetric. Per-tensor int8 (transformers.js's usual q8) moved SmolLM2's scores too
much; blocks of 32 keep each scale local.

  python quantize.py --src build/smollm2-135m-instruct --bits 4 --out build/smollm2-135m-instruct-q4
      -> onnx/model_q4.onnx (transformers.js dtype "q4")
  python quantize.py --src build/smollm2-135m-instruct --bits 8 --out build/smollm2-135m-instruct-q8b
      -> onnx/model_quantized.onnx (dtype "q8")
"""

import argparse
import os
import shutil

import onnx
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer


def untie_lm_head(model):
    """A tied lm_head reads Transpose(embed_tokens.weight), which the quantizer skips (not a constant), and keeps the
    fp32 embedding alive (113 MB for SmolLM2). Give it its own constant, transposed, so both get quantized."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Transpose" or node.input[0] not in inits:
            continue
        users = [n for n in model.graph.node if node.output[0] in n.input]
        if not users or any(u.op_type != "MatMul" for u in users):
            continue
        w = numpy_helper.to_array(inits[node.input[0]])
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.T), node.output[0]))
        model.graph.node.remove(node)
        print("untied", node.output[0], w.T.shape)
        return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bits", type=int, choices=[4, 8], default=4)
    ap.add_argument("--block", type=int, default=32)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    for f in os.listdir(args.src):
        if f != "onnx":
            shutil.copy(os.path.join(args.src, f), os.path.join(args.out, f))
    model = onnx.load(os.path.join(args.src, "onnx", "model.onnx"))
    untie_lm_head(model)
    cfg = DefaultWeightOnlyQuantConfig(block_size=args.block, is_symmetric=False, bits=args.bits,
                                       op_types_to_quantize=("MatMul", "Gather"), quant_axes=(("MatMul", 0), ("Gather", 1)))
    q = MatMulNBitsQuantizer(model, bits=args.bits, block_size=args.block, is_symmetric=False, algo_config=cfg,
                             op_types_to_quantize=("MatMul", "Gather"), quant_axes=(("MatMul", 0), ("Gather", 1)))
    q.process()
    name = "model_q4.onnx" if args.bits == 4 else "model_quantized.onnx"
    q.model.save_model_to_file(os.path.join(args.out, "onnx", name), use_external_data_format=False)
    print("wrote", os.path.join(args.out, "onnx", name), os.path.getsize(os.path.join(args.out, "onnx", name)) // 2**20, "MB")


if __name__ == "__main__":
    main()
