"""Train a small T5 from scratch on data/train.jsonl (plain PyTorch, fixed seeds).

Checkpoints (runs/<name>/):
  last/   model + tokenizer + train_state.pt (optimizer, step) every --save-every steps; --resume continues from it
  best/   model + tokenizer with the best validation score so far (this is what export.py takes)
Log lines: step, loss, lr, seconds per step; "eval" lines on held-out companies.

Targets: if every training target is a pointer "[n]" (make_data.py --target pointer, the default), validation
measures pointer accuracy: greedy decoding of a few tokens, the leading "[n]" parsed from the text (anything
unparseable counts as "[0]" = abstain), compared with the right entry's number; "best" keeps the highest accuracy
over all validation examples (in-scope ones and those whose right entry was left out, target "[0]"); the log also
shows the two parts. Target length is capped at --max-target (default 8 for pointers, 128 for answers).
Otherwise (answer targets) validation is exact match of the answer text, as before.

Usage:
  python train.py --name main --minutes 50            # CPU, stops by wall-clock budget or --steps
  python train.py --name pointer --init runs/gpu1 --minutes 60   # start from a checkpoint's weights
  python train.py --name smoke --minutes 2 --eval-every 50 --eval-n 16
"""

import argparse
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

from format import MAX_INPUT_TOKENS, MAX_TARGET_TOKENS

HERE = os.path.dirname(os.path.abspath(__file__))


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_jsonl(path, limit=None):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if limit and len(out) >= limit:
                break
    return out


POINTER = re.compile(r"^\s*\[(\d+)\]")


def parse_pointer(text):
    """The leading [n] of a generated text as an int; 0 (abstain) when there is none."""
    m = POINTER.match(text)
    return int(m.group(1)) if m else 0


def is_pointer_data(rows):
    return all(re.fullmatch(r"\[\d+\]", r["target"]) for r in rows)


def encode(tok, rows, max_target=MAX_TARGET_TOKENS):
    enc = tok([r["input"] for r in rows], max_length=MAX_INPUT_TOKENS, truncation=True).input_ids
    lab = tok([r["target"] for r in rows], max_length=max_target, truncation=True).input_ids
    return list(zip(enc, lab))


def batches(data, batch_size, rng):
    """Length-grouped batches: shuffle, sort inside chunks of 50 batches, shuffle the batches."""
    idx = list(range(len(data)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s:s + chunk], key=lambda i: len(data[i][0]))
        out += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def collate(data, ids, device):
    xs = [data[i][0] for i in ids]
    ys = [data[i][1] for i in ids]
    lx, ly = max(map(len, xs)), max(map(len, ys))
    x = torch.zeros(len(ids), lx, dtype=torch.long)
    m = torch.zeros(len(ids), lx, dtype=torch.long)
    y = torch.full((len(ids), ly), -100, dtype=torch.long)
    for r, (a, b) in enumerate(zip(xs, ys)):
        x[r, :len(a)] = torch.tensor(a)
        m[r, :len(a)] = 1
        y[r, :len(b)] = torch.tensor(b)
    return x.to(device), m.to(device), y.to(device)


@torch.no_grad()
def evaluate(model, tok, rows, device, bs=32, pointer=False, max_new=MAX_TARGET_TOKENS):
    """Answer mode: exact match. Pointer mode: (accuracy over all, accuracy in scope, [0] rate without the right
    entry); the first number is the one "best" follows."""
    model.eval()
    em, ok_in, n_in, ok_none, n_none = 0, 0, 0, 0, 0
    for s in range(0, len(rows), bs):
        part = rows[s:s + bs]
        enc = tok([r["input"] for r in part], max_length=MAX_INPUT_TOKENS, truncation=True, padding=True,
                  return_tensors="pt").to(device)
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, num_beams=1)
        preds = tok.batch_decode(out, skip_special_tokens=True)
        for p, r in zip(preds, part):
            if pointer:
                gold = parse_pointer(r["target"])
                hit = parse_pointer(p) == gold
                em += hit
                if gold:
                    ok_in, n_in = ok_in + hit, n_in + 1
                else:
                    ok_none, n_none = ok_none + hit, n_none + 1
            else:
                em += p.strip() == r["target"]
    model.train()
    if pointer:
        return em / max(1, len(rows)), ok_in / max(1, n_in), ok_none / max(1, n_none)
    return em / max(1, len(rows))


def make_model(args, tok):
    cfg = T5Config(vocab_size=len(tok), d_model=args.d_model, d_ff=args.d_ff, d_kv=args.d_model // args.heads,
                   num_layers=args.layers, num_decoder_layers=args.layers, num_heads=args.heads,
                   relative_attention_num_buckets=32, relative_attention_max_distance=128,
                   dropout_rate=args.dropout, feed_forward_proj="relu", tie_word_embeddings=True,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, is_encoder_decoder=True)
    return T5ForConditionalGeneration(cfg)


def save(model, tok, path, extra=None):
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path, max_shard_size="14MB")
    tok.save_pretrained(path)
    if extra is not None:
        torch.save(extra, os.path.join(path, "train_state.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="main")
    ap.add_argument("--runs", default=os.path.join(HERE, "runs"))
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "tokenizer"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--steps", type=int, default=3000, help="schedule length (lr decays to 10%% at this step)")
    ap.add_argument("--minutes", type=float, default=0, help="stop after this wall time (0 = no limit)")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-n", type=int, default=96)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--time-schedule", action="store_true",
                    help="lr schedule follows the share of --minutes used (for runs bounded by time, e.g. on a GPU)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default="", help="start from the weights of this checkpoint (fresh optimizer)")
    ap.add_argument("--max-target", type=int, default=0,
                    help="cap on target tokens (0 = 8 for pointer targets, %d for answers)" % MAX_TARGET_TOKENS)
    args = ap.parse_args()

    t_start = time.time()
    set_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    run = os.path.join(args.runs, args.name)
    os.makedirs(run, exist_ok=True)
    tok = T5TokenizerFast.from_pretrained(args.tokenizer)

    train_rows = load_jsonl(os.path.join(args.data, "train.jsonl"), args.train_limit or None)
    val_rows = load_jsonl(os.path.join(args.data, "val.jsonl"))
    random.Random(7).shuffle(val_rows)
    val_rows = val_rows[:args.eval_n]
    pointer = is_pointer_data(train_rows)
    max_target = args.max_target or (8 if pointer else MAX_TARGET_TOKENS)
    print(f"targets: {'pointer [n]' if pointer else 'answer text'}, max {max_target} tokens", flush=True)
    data = encode(tok, train_rows, max_target)
    print(f"encoded {len(data)} train examples in {time.time() - t_start:.0f}s; "
          f"mean input {np.mean([len(a) for a, _ in data]):.0f} tok, max {max(len(a) for a, _ in data)}; "
          f"mean target {np.mean([len(b) for _, b in data]):.0f}", flush=True)

    last = os.path.join(run, "last")
    step, best = 0, -1.0
    if args.resume and os.path.exists(os.path.join(last, "train_state.pt")):
        model = T5ForConditionalGeneration.from_pretrained(last)
        st = torch.load(os.path.join(last, "train_state.pt"), weights_only=False)
        step, best = st["step"], st["best"]
        print(f"resumed at step {step}, best {best:.3f}", flush=True)
    elif args.init:
        st = None
        model = T5ForConditionalGeneration.from_pretrained(args.init)
        print(f"weights from {args.init}", flush=True)
    else:
        st = None
        model = make_model(args, tok)
    model.to(device).train()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params {nparams / 1e6:.2f}M config d_model={args.d_model} d_ff={args.d_ff} layers={args.layers}x2 "
          f"heads={args.heads} vocab={len(tok)}", flush=True)
    json.dump(vars(args), open(os.path.join(run, "args.json"), "w"), indent=1)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    if st is not None:
        opt.load_state_dict(st["opt"])

    def lr_at(s):
        if s < args.warmup:
            return args.lr * (s + 1) / args.warmup
        p = min(1.0, (s - args.warmup) / max(1, args.steps - args.warmup))
        if args.time_schedule and args.minutes:
            p = max(p, min(1.0, (time.time() - t_start) / 60 / args.minutes))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    rng = random.Random(args.seed + step)
    epoch_batches = []
    t_log, loss_acc, n_acc = time.time(), 0.0, 0
    done = False
    while not done:
        if not epoch_batches:
            epoch_batches = batches(data, args.batch, rng)
        ids = epoch_batches.pop()
        x, m, y = collate(data, ids, device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(input_ids=x, attention_mask=m, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_acc += loss.item()
        n_acc += 1
        if step % args.log_every == 0:
            dt = (time.time() - t_log) / n_acc
            print(f"step {step} loss {loss_acc / n_acc:.4f} lr {lr_at(step):.2e} {dt:.2f}s/step "
                  f"elapsed {(time.time() - t_start) / 60:.1f}m", flush=True)
            t_log, loss_acc, n_acc = time.time(), 0.0, 0
        out_of_time = args.minutes and (time.time() - t_start) / 60 >= args.minutes
        if step >= args.steps or out_of_time:
            done = True
        if step % args.eval_every == 0 or done:
            t0 = time.time()
            if pointer:
                em, acc_in, acc_none = evaluate(model, tok, val_rows, device, pointer=True, max_new=max_target)
                info = {"step": step, "val_pointer_acc": em, "val_acc_in_scope": acc_in, "val_none_rate": acc_none}
                print(f"eval step {step} val_pointer_acc {em:.3f} in_scope {acc_in:.3f} none_correct {acc_none:.3f} "
                      f"(n={len(val_rows)}, {time.time() - t0:.0f}s)", flush=True)
            else:
                em = evaluate(model, tok, val_rows, device)
                info = {"step": step, "val_em": em}
                print(f"eval step {step} val_em {em:.3f} (n={len(val_rows)}, {time.time() - t0:.0f}s)", flush=True)
            if em >= best:
                best = em
                save(model, tok, os.path.join(run, "best"))
                json.dump(info, open(os.path.join(run, "best", "best.json"), "w"))
                print(f"new best {em:.3f} at step {step}", flush=True)
        if step % args.save_every == 0 or done:
            save(model, tok, last, {"step": step, "best": best, "opt": opt.state_dict()})
    print(f"done: {step} steps in {(time.time() - t_start) / 60:.1f} min, best val {'pointer acc' if pointer else 'EM'} {best:.3f}", flush=True)


if __name__ == "__main__":
    main()
