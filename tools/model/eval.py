"""Evaluate the EXPORTED quantized ONNX model (onnxruntime directly, greedy decoding with the merged decoder's
KV cache, the way transformers.js runs it) on FAQs the model never saw:

  (a) held-out synthetic companies (make_data.py's validation companies: same templates, new companies/values)
  (b) the demo FAQ config/demo-faq.yaml (English entries only): every `alternates` paraphrase as the question,
      context = the right entry + 2 distractors from the same FAQ ranked by word overlap (hard negatives),
      in a seeded random order.

Reports exact match, share with token F1 >= 0.8, mean token F1 and mean latency per answer, writes
tools/model/eval_results.json and models/kvcache-t5-faq/expected.json (3 fixed demo inputs with their greedy
outputs, for the TypeScript runtime test; also checked against the no-cache decoder).

Usage: python eval.py [--model ../../models/kvcache-t5-faq] [--synthetic-n 150] [--threads 2]
"""

import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import yaml
from transformers import T5TokenizerFast

from format import MAX_INPUT_TOKENS, MAX_TARGET_TOKENS, build_input, norm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED_CASES = [("shipping-cost", 0), ("reset-password", 0), ("return-policy", 0)]
CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")
TOKEN = re.compile(r"[a-z0-9]+")
STOP = set("a an the i my me you your we our to of for in on at is are do does can how what when where why it be "
           "with and or if this that there from by as".split())


class OnnxT5:
    def __init__(self, model_dir, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        p = ["CPUExecutionProvider"]
        od = os.path.join(model_dir, "onnx")
        self.enc = ort.InferenceSession(os.path.join(od, "encoder_model_quantized.onnx"), so, providers=p)
        self.dec = ort.InferenceSession(os.path.join(od, "decoder_model_merged_quantized.onnx"), so, providers=p)
        self.dec_nopast = None
        self._od, self._so = od, so
        self.past_names = [i.name for i in self.dec.get_inputs() if i.name.startswith("past_key_values")]
        self.present_names = [o.name for o in self.dec.get_outputs() if o.name.startswith("present")]
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.heads, self.d_kv = cfg["num_heads"], cfg["d_kv"]
        self.start, self.eos = cfg["decoder_start_token_id"], cfg["eos_token_id"]

    def encode(self, ids):
        x = np.array([ids], dtype=np.int64)
        m = np.ones_like(x)
        return x, m, self.enc.run(None, {"input_ids": x, "attention_mask": m})[0]

    def greedy(self, ids, max_new=MAX_TARGET_TOKENS, allowed=None):
        """Greedy decoding with the merged decoder: step 0 without cache, then one token at a time with past.
        allowed: optional list of token-id sequences; if given, the output is constrained to be one of them
        (copy-constrained decoding: the model only chooses which context answer to copy)."""
        _, m, h = self.encode(ids)
        empty = np.zeros((1, self.heads, 0, self.d_kv), dtype=np.float32)
        feeds = {"encoder_attention_mask": m, "encoder_hidden_states": h,
                 "input_ids": np.array([[self.start]], dtype=np.int64), "use_cache_branch": np.array([False])}
        for n in self.past_names:
            feeds[n] = empty
        out = []
        enc_kv = {}
        for step in range(max_new):
            res = self.dec.run(None, feeds)
            logits = res[0][0, -1]
            if allowed is not None:
                ok = {a[len(out)] if len(a) > len(out) else self.eos for a in allowed if a[:len(out)] == out}
                nxt = max(ok, key=lambda t: logits[t])
            else:
                nxt = int(np.argmax(logits))
            if nxt == self.eos:
                break
            out.append(nxt)
            presents = dict(zip([o.name for o in self.dec.get_outputs()], res))
            for pn in self.present_names:
                name = pn.replace("present", "past_key_values")
                if ".encoder." in pn:
                    if step == 0:
                        enc_kv[name] = presents[pn]
                    feeds[name] = enc_kv[name]
                else:
                    feeds[name] = presents[pn]
            feeds["input_ids"] = np.array([[nxt]], dtype=np.int64)
            feeds["use_cache_branch"] = np.array([True])
        return out

    def greedy_nocache(self, ids, max_new=MAX_TARGET_TOKENS):
        """Greedy decoding with decoder_model_quantized.onnx (no KV cache: the whole prefix every step)."""
        if self.dec_nopast is None:
            self.dec_nopast = ort.InferenceSession(os.path.join(self._od, "decoder_model_quantized.onnx"), self._so,
                                                   providers=["CPUExecutionProvider"])
        _, m, h = self.encode(ids)
        seq = [self.start]
        for _ in range(max_new):
            logits = self.dec_nopast.run(["logits"], {"encoder_attention_mask": m, "encoder_hidden_states": h,
                                                      "input_ids": np.array([seq], dtype=np.int64)})[0]
            nxt = int(np.argmax(logits[0, -1]))
            if nxt == self.eos:
                break
            seq.append(nxt)
        return seq[1:]


def f1(pred, gold):
    p, g = TOKEN.findall(pred.lower()), TOKEN.findall(gold.lower())
    if not p or not g:
        return float(p == g)
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    pr, rc = common / len(p), common / len(g)
    return 2 * pr * rc / (pr + rc)


def words(t):
    return {w for w in TOKEN.findall(t.lower()) if w not in STOP}


def run_set(model, tok, cases, label, constrained=False):
    ems, f1s, lat, trunc = [], [], [], 0
    for c in cases:
        ids = tok(c["input"]).input_ids
        if len(ids) > MAX_INPUT_TOKENS:
            trunc += 1
            ids = ids[:MAX_INPUT_TOKENS - 1] + [tok.eos_token_id]
        t0 = time.perf_counter()
        allowed = None
        if constrained:
            allowed = [tok(norm(a), add_special_tokens=False).input_ids for a in c["answers"]]
        out = model.greedy(ids, allowed=allowed)
        lat.append(time.perf_counter() - t0)
        pred = tok.decode(out, skip_special_tokens=True).strip()
        if constrained:
            c["output_constrained"] = pred
        else:
            c["output"] = pred
            c["output_ids"] = out
        ems.append(pred == norm(c["target"]))
        f1s.append(f1(pred, c["target"]))
    res = {"set": label, "n": len(cases), "exact_match": float(np.mean(ems)),
           "f1_ge_0.8": float(np.mean([x >= 0.8 for x in f1s])), "mean_f1": float(np.mean(f1s)),
           "mean_latency_ms": 1000 * float(np.mean(lat)), "p90_latency_ms": 1000 * float(np.percentile(lat, 90)),
           "inputs_truncated": trunc,
           "decoding": "copy-constrained greedy" if constrained else "greedy"}
    print(json.dumps(res), flush=True)
    return res


def demo_cases(path, seed=7):
    faq = yaml.safe_load(open(path, encoding="utf-8"))["entries"]
    en = [e for e in faq if not CJK.search(e["question"] + e["answer"])]
    cases = []
    for e in en:
        others = [o for o in en if o is not e]
        for ai, alt in enumerate(e.get("alternates") or []):
            qw = words(alt)
            ranked = sorted(others, key=lambda o: (-len(qw & words(o["question"] + " " + o["answer"])), o["id"]))
            ctx = [e] + ranked[:2]
            random.Random(f"{seed}-{e['id']}-{ai}").shuffle(ctx)
            cases.append({"id": e["id"], "alt": ai, "question": alt,
                          "context_ids": [c["id"] for c in ctx],
                          "input": build_input(alt, [(c["question"], c["answer"]) for c in ctx]),
                          "target": norm(e["answer"]), "answers": [norm(c["answer"]) for c in ctx]})
    return cases, len(en), len(faq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "kvcache-t5-faq"))
    ap.add_argument("--faq", default=os.path.join(ROOT, "config", "demo-faq.yaml"))
    ap.add_argument("--heldout", default=os.path.join(HERE, "data", "heldout", "val.jsonl"))
    ap.add_argument("--synthetic-n", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", default=os.path.join(HERE, "eval_results.json"))
    ap.add_argument("--no-expected", action="store_true")
    args = ap.parse_args()

    if not os.path.exists(args.heldout):  # held-out companies do not depend on the training settings
        subprocess.run([sys.executable, os.path.join(HERE, "make_data.py"), "--out", os.path.dirname(args.heldout),
                        "--train-companies", "1", "--per-company", "1"], check=True)
    tok = T5TokenizerFast.from_pretrained(args.model)
    model = OnnxT5(args.model, args.threads)

    rows = [json.loads(l) for l in open(args.heldout, encoding="utf-8")]
    random.Random(11).shuffle(rows)
    syn = [{"input": r["input"], "target": r["target"],
            "answers": re.findall(r"\[\d+\] .*? => (.*?)(?= \[\d+\] |$)", r["input"])} for r in rows[:args.synthetic_n]]
    r_syn = run_set(model, tok, syn, "synthetic held-out companies")

    demo, n_en, n_all = demo_cases(args.faq)
    r_demo = run_set(model, tok, demo, f"demo FAQ paraphrases ({n_en} of {n_all} entries are English)")
    r_syn_c = run_set(model, tok, syn, "synthetic held-out companies", constrained=True)
    r_demo_c = run_set(model, tok, demo, "demo FAQ paraphrases", constrained=True)

    # KV cache vs no cache (decoder_model_quantized.onnx): latency and agreement on the first 24 demo cases
    t_c, t_n, agree = [], [], 0
    for c in demo[:24]:
        ids = tok(c["input"]).input_ids
        t0 = time.perf_counter()
        a = model.greedy(ids)
        t_c.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = model.greedy_nocache(ids)
        t_n.append(time.perf_counter() - t0)
        agree += a == b
    r_kv = {"n": len(t_c), "with_cache_ms": 1000 * float(np.mean(t_c)), "without_cache_ms": 1000 * float(np.mean(t_n)),
            "same_output": agree}
    print(json.dumps({"kv_cache": r_kv}), flush=True)

    results = {"model": os.path.relpath(args.model, ROOT), "threads": args.threads, "kv_cache": r_kv,
               "synthetic": r_syn, "demo": r_demo,
               "synthetic_copy_constrained": r_syn_c, "demo_copy_constrained": r_demo_c,
               "demo_examples": [{k: c[k] for k in ("id", "question", "output", "output_constrained", "target")}
                                 for c in demo[:12]]}
    json.dump(results, open(args.results, "w"), indent=1, ensure_ascii=False)

    if not args.no_expected:
        exp = []
        for eid, ai in EXPECTED_CASES:
            c = next(x for x in demo if x["id"] == eid and x["alt"] == ai)
            ids = tok(c["input"]).input_ids
            nocache = model.greedy_nocache(ids)
            exp.append({"question": c["question"], "faq_ids_in_context_order": c["context_ids"],
                        "input": c["input"], "input_ids": ids, "expected_output": c["output"],
                        "expected_output_ids": c["output_ids"], "right_answer": c["target"],
                        "model_is_right": c["output"] == c["target"],
                        "no_cache_decoder_agrees": nocache == c["output_ids"]})
        doc = {"about": "Greedy decoding (max_new_tokens=%d, dtype q8 = onnx/*_quantized.onnx) of the exported model; "
                        "the Node runtime must reproduce expected_output exactly for input." % MAX_TARGET_TOKENS,
               "generation": {"do_sample": False, "num_beams": 1, "max_new_tokens": MAX_TARGET_TOKENS},
               "cases": exp}
        json.dump(doc, open(os.path.join(args.model, "expected.json"), "w"), indent=1, ensure_ascii=False)
        print("expected.json:", [(e["question"], e["expected_output"][:60], e["no_cache_decoder_agrees"]) for e in exp])


if __name__ == "__main__":
    main()
