"""Train a T5-style Unigram tokenizer (tokenizers library) on data/corpus.txt (train companies only).

Digits are split one by one (numbers copy reliably). Special ids: 0 <pad>, 1 </s>, 2 <unk>. No byte fallback: instead the initial alphabet holds every printable
ASCII character plus common Latin-1 letters and typographic punctuation, so English text never hits <unk>.
Other scripts (Chinese, emoji, ...) become <unk>.
Saves tokenizer.json / tokenizer_config.json / special_tokens_map.json to tools/model/tokenizer/
(loadable with transformers.T5TokenizerFast and transformers.js).
"""
import os
import string

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import T5TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = int(os.environ.get("VOCAB", "8000"))

ALPHABET = sorted(set(string.printable.strip()) | set("€£¥¢°±×÷§©®™µ¼½¾¿¡·•…–—‘’‚“”„′″«»‹›")
                  | set("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝßœŒ"))


def main():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                      initial_alphabet=ALPHABET, max_piece_length=16, shrinking_factor=0.75,
                                      show_progress=False)
    extra = [" ".join(ALPHABET)] * 50  # make sure every alphabet character survives as a piece
    def it():
        yield from extra
        with open(os.path.join(HERE, "data", "corpus.txt"), encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")
    tok.train_from_iterator(it(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("</s>") == 1 and tok.token_to_id("<unk>") == 2
    fast = T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0,
                           model_max_length=512)
    out = os.path.join(HERE, "tokenizer")
    fast.save_pretrained(out)
    t2 = T5TokenizerFast.from_pretrained(out)
    s = 'Open "My Orders" at shop.example/account — ships in 1-2 days for $6.95 (café, naïve).'
    ids = t2(s).input_ids
    assert 2 not in ids, t2.convert_ids_to_tokens(ids)
    print("vocab", t2.vocab_size, "tokens", len(ids), t2.convert_ids_to_tokens(ids))
    print("roundtrip:", t2.decode(ids, skip_special_tokens=True))


if __name__ == "__main__":
    main()
