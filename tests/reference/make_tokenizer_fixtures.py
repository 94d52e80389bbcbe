#!/usr/bin/python3
"""Writes the WordPiece and byte-level BPE tokenizer fixtures:
tests/fixtures/tokenizer/<name>.json (small synthetic tokenizer.json files in
the shape Hugging Face writes them; BPE merges and WordPiece vocabularies are
trained here on the text below) and <name>_cases.json (ids, type ids and
decodes from the independent reference tokenizer_ref.py).

Run: /usr/bin/python3 tests/reference/make_tokenizer_fixtures.py
(needs the `regex` module: apt-get install python3-regex). Deterministic.
"""
import collections
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_ref as ref  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "fixtures", "tokenizer")

TRAIN = """
Once upon a time, there was a little girl named Lily. She liked to play outside in the sunshine with her friends.
One day, she found a shiny red ball in the garden. "Look at this!" she said. Her mother smiled and said, "It's
beautiful, but don't lose it." They're going to the park tomorrow, and we'll bring the ball. I'm sure you've seen
it before; he'd like it too. The quick brown fox jumps over the lazy dog. Numbers: 1, 2, 3, 10, 42, 100, 2024,
3.14159 and 1,000,000. Tokenizers split text into words and subwords; subword units make unknown words tractable.
Running, jumped, happily, unhappiness, playing, played, player, players, nation, national, international.
Le café est très bon. Ça coûte cher, mais c'est délicieux! Die Straße ist groß und schön. Über den Wolken.
El niño comió una manzana. ¿Dónde está la biblioteca? Ελληνικά γράμματα και λέξεις. Привет, как дела? Москва.
中文文本和一些汉字。日本語のひらがなとカタカナ。한국어 텍스트입니다. مرحبا بالعالم. नमस्ते दुनिया।
İstanbul'da güzel bir gün. Ångström, naïve, résumé, coöperate, façade. Emoji 😀 and 👍 are fun.
    indented code: for i in range(10):
        print(i)
Tabs\tand\nnewlines\r\nand   spaces. THE END. WE'LL SEE. DON'T WORRY. It's over; that's all.
"""

TEXTS = [
    "",
    " ",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time, there was a little girl named Lily.",
    "DON'T stop, We'LL see; they're here & it's 5 o'clock.",
    "'s 'S 'T 're 'RE 've 'M 'LL 'd 'ſ x's",
    "naïve café résumé Ångström coöperate",
    "Straße GROSSE Maße",
    "İstanbul ıI İ",
    "Ελληνικά: Σοφία ΟΔΟΣ σς",
    "Привет, мир! Ёлка",
    "中文分词测试：你好世界",
    "CJK extensions \U00020000\U0002B820\U0002B920\U0002F800 and \u3400",
    "日本語のテキスト、カタカナとひらがな。ｶﾀｶﾅ",
    "한국어 텍스트",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "emoji 😀👍🏽 👨\u200d👩\u200d👧\u200d👦 🇩🇪 ❤️ done",
    "combining e\u0301 a\u0308 n\u0303 o\u0323\u0302 q\u0307\u0323",
    "precomposed \u00e9 vs decomposed e\u0301; Kelvin \u212a Angstrom \u212b",
    "a" * 120,
    "supercalifragilisticexpialidocious" * 3 + " short",
    "unhappiness internationalization players",
    "1234567890123456789 3.14159 1,000,000 ١٢٣ ²³ ½",
    "  multiple   spaces\tand\ttabs\nnew\r\nlines\n\n\n  end  ",
    "control\x00chars\x01\x07\x1b[0m\x7f\u200b\ufeff here\u00ad",
    "\x1c\x1d\x1e\x1f info separators\x85next",
    "\u3000ideographic\u00a0nbsp\u2028line\u2029para",
    "<|endoftext|> special <|endoftext|>",
    "[CLS] already [SEP] has [MASK] tokens [PAD] [UNK]",
    "mixed123numbers456and789letters",
    "punct!!!??...---((()))@#$%^&*_+=|\\~`",
    "Hello\n\nWorld\n",
    "trailing space ",
    "\ud7ff\ue000 private use \U000f0000",
    "x",
]

# Random texts over characters chosen to hit the edges of each step: whitespace
# kinds, control and format characters, combining marks, case mappings that
# change length, CJK blocks, emoji sequences, contractions, added tokens.
POOL = list("abcXYZ019 '\"-.,!?;:()[]{}<>|`~_^$%&*+=/\\@#") + list("sStTrRvVmMlLdD") + [
    "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2000", "\u2028", "\u2029",
    "\u202f", "\u3000", "\x00", "\x07", "\x7f", "\u200b", "\u200d", "\ufeff", "\u00ad", "\ue000", "\U000f0000",
    "\u0301", "\u0308", "\u0323", "\u0345", "\u05bc", "\u093c", "\u3099", "é", "ü", "ß", "İ", "ı", "ſ", "\u212a",
    "\u212b", "Σ", "σ", "ς", "Ω", "\u1f82", "\u0390", "ﬁ", "Ⅻ", "½", "²", "١", "٣", "߀", "中", "文", "\u3400",
    "\U00020000", "\U0002B820", "\U0002B920", "\uf900", "ア", "ｶ", "ひ", "한", "\u1100", "\u1161", "\u11a8", "ا", "ل",
    "न", "म", "्", "😀", "👍", "\U0001F3FD", "👨", "🇩", "🇪", "❤", "\ufe0f", "\U0001F984", "€", "£", "©", "™", "—", "…",
    "«", "»", "<|endoftext|>", "[CLS]", "[SEP]", "<|begin_of_text|>", "<|im_start|>", "'s", "'LL", "'ve", " the",
    " The", "hello", "world", "123456", "    ", "\n\n", " \n ", "Straße", "naïve", "Ünïcödé"]


def random_texts(count, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.choice([1, 2, 3, 5, 8, 13, 30]))) for _ in range(count)]


PAIRS = [
    ("What is the capital of France?", "Paris is the capital and largest city of France."),
    ("short", "a much longer second sentence with quite a few more words in it than the first one"),
    ("a much longer first sentence with quite a few more words in it than the second one", "short"),
    ("Straße café", "中文 text"),
    ("", "only the second"),
]


def wordpiece_json(lowercase, strip_accents, template):
    norm = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
            "strip_accents": strip_accents, "lowercase": lowercase}
    pre = {"type": "BertPreTokenizer"}
    # Vocabulary from the training text, normalized and pre-tokenized by the reference.
    words = collections.Counter(ref.pre_tokenize(pre, [ref.normalize(norm, TRAIN)]))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = list(specials)
    chars = sorted({c for w in words for c in w})
    vocab += chars + ["##" + c for c in chars]
    vocab += [w for w, n in sorted(words.items(), key=lambda x: (-x[1], x[0])) if len(w) > 1][:350]
    pre_c, suf_c = collections.Counter(), collections.Counter()
    for w, n in words.items():
        for k in range(2, 6):
            if len(w) > k:
                pre_c[w[:k]] += n
                suf_c["##" + w[-k:]] += n
    vocab += [p for p, _ in sorted(pre_c.items(), key=lambda x: (-x[1], x[0]))[:200]]
    vocab += [p for p, _ in sorted(suf_c.items(), key=lambda x: (-x[1], x[0]))[:200]]
    vocab += ["##ing", "##ed", "##s", "##ly", "##ness", "un", "##ation", "##al", "##er", "##ers"]
    seen, v = set(), {}
    for p in vocab:
        if p not in seen:
            seen.add(p)
            v[p] = len(v)
    added = [{"id": v[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in specials]
    if template:
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [v["[CLS]"]], "tokens": ["[CLS]"]},
                                   "[SEP]": {"id": "[SEP]", "ids": [v["[SEP]"]], "tokens": ["[SEP]"]}}}
    else:
        post = {"type": "BertProcessing", "sep": ["[SEP]", v["[SEP]"]], "cls": ["[CLS]", v["[CLS]"]]}
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": v["[PAD]"], "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": added,
        "normalizer": norm,
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": v},
    }


def train_bpe(words, num_merges):
    """Plain BPE training on byte-level words: repeatedly merge the most
    frequent adjacent pair (ties: the smallest pair)."""
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter()
        for w, n in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += n
        if not pairs:
            break
        best = min(pairs.items(), key=lambda x: (-x[1], x[0]))[0]
        merges.append(best)
        for w in words:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def byte_level_json(pre, normalizer, post, added, num_merges, ignore_merges=False, extra=()):
    words = collections.Counter(ref.pre_tokenize(pre, [ref.normalize(normalizer, TRAIN)]))
    merges = train_bpe(words, num_merges)
    vocab = {}
    for b in range(256):
        vocab[ref.BYTE_TO_CHAR[b]] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    for e in extra:
        if e not in vocab:
            vocab[e] = len(vocab)
    added_tokens = []
    for s in added:
        added_tokens.append({"id": len(vocab) + len(added_tokens), "content": s, "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added_tokens,
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": post(added_tokens) if post else bl,
        "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": ignore_merges, "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")


def split_then_bytes(pattern):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


def llama3_post(added):
    bos = added[0]["id"]
    return {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                  {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos],
                                                  "tokens": ["<|begin_of_text|>"]}}}]}


def fixtures():
    g = ref.BYTE_TO_CHAR[ord(" ")]
    return {
        "wordpiece-uncased": wordpiece_json(True, None, True),
        "wordpiece-cased": wordpiece_json(False, False, False),
        "gpt2-bytelevel": byte_level_json(
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}, None, None,
            ["<|endoftext|>"], 500),
        "llama3-bytelevel": byte_level_json(
            split_then_bytes(LLAMA3), None, llama3_post, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], 600,
            ignore_merges=True, extra=[g + "zebra", g + "supercalifragilistic", "ing" + g]),
        "qwen2-bytelevel": byte_level_json(
            split_then_bytes(QWEN2), {"type": "NFC"}, None, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 600),
    }


def cases_for(name, tok):
    cases = []

    def add(text, pair=None, add_special=True, max_length=0):
        ids, types, truncated = tok.encode(text, pair, add_special, max_length)
        c = {"text": text}
        if pair is not None:
            c["pair"] = pair
        c.update({"add_special_tokens": add_special, "max_length": max_length, "ids": ids, "type_ids": types,
                  "truncated": truncated, "decoded": tok.decode(ids), "decoded_skip_special": tok.decode(ids, True)})
        cases.append(c)

    pairs = not name.startswith("gpt2") and not name.startswith("qwen2")
    for t in TEXTS:
        add(t)
        add(t, add_special=False)
    rnd = random_texts(160, 20261126)
    for i, t in enumerate(rnd):
        pair = rnd[(i * 7 + 3) % len(rnd)] if pairs and i % 4 == 0 else None
        max_length = [0, 0, 5, 9, 17][i % 5] if name.startswith("wordpiece") else 0
        add(t, pair, i % 3 != 0, max_length)
    for a, b in PAIRS:
        add(a, b, True)
        add(a, b, False)
        if name.startswith("wordpiece"):
            for m in (3, 5, 8, 12, 20):
                add(a, b, True, m)
            add(a, b, False, 7)
        elif pairs:
            add(a, b, True, 6)
    for m in (1, 2, 4, 10):
        if m >= tok.added_count(False):
            add("The quick brown fox jumps over the lazy dog.", None, True, m)
    add("The quick brown fox jumps over the lazy dog.", None, False, 3)
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, j in fixtures().items():
        path = os.path.join(OUT, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, indent=1)
            f.write("\n")
        tok = ref.Tokenizer(j)
        cases = cases_for(name, tok)
        with open(os.path.join(OUT, name + "_cases.json"), "w", encoding="utf-8") as f:
            f.write('{"generator": "tests/reference/make_tokenizer_fixtures.py (tokenizer_ref.py)", '
                    '"tokenizer": "%s.json", "cases": [\n' % name)
            f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
            f.write("\n]}\n")
        print("%s: vocab %d, %d cases, %d bytes" % (name, len(j["model"]["vocab"]), len(cases),
                                                    os.path.getsize(path)))


if __name__ == "__main__":
    main()
