#!/usr/bin/python3
"""Independent reference for Hugging Face `tokenizers` BPE (SentencePiece style).

Writes tests/fixtures/tokenizer/stories260k_cases.json and
tests/fixtures/tokenizer/tinystories656k_cases.json: text -> ids and ids -> text
for the two real tokenizers in ../shared/models, which tests/io/test_tokenizer.cpp
checks the C++ tokenizer against.

It shares nothing with include/strata/io/tokenizer.hpp and uses a different
algorithm for the merges: the textbook loop "find the adjacent pair with the
lowest merge rank (leftmost among equals), merge it, repeat" instead of a
priority queue. It covers only what the two real files use (no pre-tokenizer,
added tokens without lstrip/rstrip/single_word) and asserts that.

The HF behaviour it follows (tokenizers/src/tokenizer/added_vocabulary.rs,
models/bpe/model.rs, decoders/*.rs):
  * added tokens with normalized=false are found in the raw text; each other
    piece is normalized on its own; then tokens with normalized=true are found
    in the normalized piece, matching their own *normalized* content;
    matching is leftmost-longest; empty pieces are dropped;
  * Prepend adds its text to a non-empty string; Replace replaces every
    occurrence;
  * BPE: a char not in the vocab becomes <0xXX> byte tokens if all exist,
    else unk, consecutive unks fused when fuse_unk;
  * TemplateProcessing `single` adds the special-token ids around the text;
  * decoding: Replace per token, ByteFallback (a run of byte tokens is one
    string if valid UTF-8, else one U+FFFD per byte), Fuse, Strip.

Usage (from the repository root): /usr/bin/python3 tests/reference/bpe_ref.py
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizer")


class RefTokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        model = cfg["model"]
        assert model["type"] == "BPE"
        assert model.get("dropout") is None
        assert not model.get("continuing_subword_prefix")
        assert not model.get("end_of_word_suffix")
        assert not model.get("ignore_merges", False)
        assert cfg.get("pre_tokenizer") is None
        self.vocab = model["vocab"]
        self.id_to_piece = {i: p for p, i in self.vocab.items()}
        self.ranks = {}
        for rank, m in enumerate(model["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.ranks[(a, b)] = rank
        self.unk = model.get("unk_token")
        self.fuse_unk = model.get("fuse_unk", False)
        self.byte_fallback = model.get("byte_fallback", False)
        self.normalizers = self._flatten(cfg.get("normalizer"), "normalizers")
        self.decoders = self._flatten(cfg.get("decoder"), "decoders")
        self.added = cfg.get("added_tokens") or []
        for t in self.added:
            assert not (t["lstrip"] or t["rstrip"] or t["single_word"])
            self.id_to_piece[t["id"]] = t["content"]
        self.special_ids = {t["id"] for t in self.added if t["special"]}
        pp = cfg.get("post_processor")
        self.template = []
        if pp is not None:
            assert pp["type"] == "TemplateProcessing"
            for item in pp["single"]:
                if "SpecialToken" in item:
                    self.template += pp["special_tokens"][item["SpecialToken"]["id"]]["ids"]
                else:
                    assert item["Sequence"]["id"] == "A"
                    self.template.append(None)

    @staticmethod
    def _flatten(node, key):
        if node is None:
            return []
        if node["type"] == "Sequence":
            out = []
            for n in node[key]:
                out += RefTokenizer._flatten(n, key)
            return out
        return [node]

    # ---- encoding -------------------------------------------------------
    def normalize(self, s):
        for n in self.normalizers:
            if n["type"] == "Prepend":
                if s:
                    s = n["prepend"] + s
            elif n["type"] == "Replace":
                s = s.replace(n["pattern"]["String"], n["content"])
            else:
                raise ValueError(n["type"])
        return s

    @staticmethod
    def split_on(text, patterns):
        """patterns: {string: id}. Leftmost-longest, non-overlapping.
        Returns a list of (text, id or None)."""
        out, start, i = [], 0, 0
        while i < len(text):
            best = None
            for p in patterns:
                if text.startswith(p, i) and (best is None or len(p) > len(best)):
                    best = p
            if best is None:
                i += 1
                continue
            if start < i:
                out.append((text[start:i], None))
            out.append((best, patterns[best]))
            i += len(best)
            start = i
        if start < len(text):
            out.append((text[start:], None))
        return out

    def bpe(self, word):
        symbols = []  # pieces
        pending_unk = None
        for ch in word:
            if ch in self.vocab:
                if pending_unk is not None:
                    symbols.append(pending_unk)
                    pending_unk = None
                symbols.append(ch)
                continue
            byte_pieces = ["<0x%02X>" % b for b in ch.encode("utf-8")]
            if self.byte_fallback and all(p in self.vocab for p in byte_pieces):
                symbols += byte_pieces
                continue
            if self.unk is not None:
                if pending_unk is not None and not self.fuse_unk:
                    symbols.append(pending_unk)
                pending_unk = self.unk
        if pending_unk is not None:
            symbols.append(pending_unk)
        while True:
            best = None
            for i in range(len(symbols) - 1):
                r = self.ranks.get((symbols[i], symbols[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        return [self.vocab[s] for s in symbols]

    def encode(self, text, add_special_tokens=True):
        raw_patterns = {t["content"]: t["id"] for t in self.added if not t["normalized"]}
        norm_patterns = {self.normalize(t["content"]): t["id"] for t in self.added if t["normalized"]}
        ids = []
        for piece, tid in self.split_on(text, raw_patterns):
            if tid is not None:
                ids.append(tid)
                continue
            for sub, sid in self.split_on(self.normalize(piece), norm_patterns):
                if sid is not None:
                    ids.append(sid)
                elif sub:
                    ids += self.bpe(sub)
        if not add_special_tokens or not self.template:
            return ids
        out = []
        for t in self.template:
            out += ids if t is None else [t]
        return out

    # ---- decoding -------------------------------------------------------
    def decode(self, ids, skip_special_tokens=False):
        tokens = [self.id_to_piece[i] for i in ids if not (skip_special_tokens and i in self.special_ids)]
        for d in self.decoders:
            t = d["type"]
            if t == "Replace":
                tokens = [x.replace(d["pattern"]["String"], d["content"]) for x in tokens]
            elif t == "ByteFallback":
                tokens = self._byte_fallback(tokens)
            elif t == "Fuse":
                tokens = ["".join(tokens)]
            elif t == "Strip":
                tokens = [self._strip(x, d["content"], d["start"], d["stop"]) for x in tokens]
            else:
                raise ValueError(t)
        return "".join(tokens)

    @staticmethod
    def _byte_fallback(tokens):
        out, run = [], []

        def flush():
            if run:
                try:
                    out.append(bytes(run).decode("utf-8", errors="strict"))
                except UnicodeDecodeError:
                    out.extend(["\ufffd"] * len(run))
                run.clear()

        for t in tokens:
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">") and all(c in "0123456789abcdefABCDEF" for c in t[3:5]):
                run.append(int(t[3:5], 16))
            else:
                flush()
                out.append(t)
        flush()
        return out

    @staticmethod
    def _strip(s, content, start, stop):
        b = 0
        while b < start and b < len(s) and s[b] == content:
            b += 1
        e = len(s)
        k = 0
        while k < stop and e > b and s[e - 1] == content:
            e -= 1
            k += 1
        return s[b:e]


STORIES260K_TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "été café 🙂",
    "naïve Ünïcödé ü",
    "你好，世界",
    "👍🏽 ok",
    "Hello<s>world",
    "a <s> b </s> c",
    "<s>",
    "<unk> is not unknown",
    "",
    " ",
    "   ",
    "  double  spaces",
    "tab\tand\nnewline\r\n",
    "The cat said \u201chi!\u201d \u2014 and left\u2026",
    "non\u00a0breaking",
    "<0x41> is text, not a byte",
    "antidisestablishmentarianism",
    "thequickbrownfoxjumpsoverthelazydog" * 20,
    "x" * 500,
    "Tim and Timmy were happy. They played all day with the big red ball.",
]

TINYSTORIES_TEXTS = [
    "The end.<|end_story|>",
    "The end. <|end_story|> Once",
    "<|start_story|>Once upon a time",
    "Once <|start_story|><|start_story|> twice",
    "été café 🙂",
    "ééé x éé",
    "\n\nHello\n",
    "<unk>",
    "",
    " ",
    "One day, Lily said, \"Let's play!\"",
    "supercalifragilisticexpialidocious" * 40,
]


def make_cases(tok, texts):
    cases = []
    for text in texts:
        ids = tok.encode(text)
        cases.append(
            {
                "text": text,
                "ids": ids,
                "ids_no_special": tok.encode(text, add_special_tokens=False),
                "decoded": tok.decode(ids),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            }
        )
    return cases


def check_golden(tok):
    with open(os.path.join(SHARED, "golden", "tinystories-656k.json"), encoding="utf-8") as f:
        golden = json.load(f)
    for entry in golden["tokenization"]:
        got = tok.encode(entry["text"])
        if got != entry["ids"]:
            sys.exit("reference disagrees with golden for %r: %r vs %r" % (entry["text"], got, entry["ids"]))
    ids = golden["prompt_ids"] + golden["greedy_40"]
    text = tok.decode(ids, skip_special_tokens=True)
    if text != golden["prompt_text"] + golden["greedy_40_text"]:
        sys.exit("reference decode disagrees with golden greedy_40_text")


def write(name, model, cases):
    os.makedirs(OUT_DIR, exist_ok=True)
    doc = {
        "generator": "tests/reference/bpe_ref.py",
        "tokenizer": "../shared/models/%s/tokenizer.json" % model,
        "cases": cases,
    }
    # One case per line keeps the file small and its diffs readable.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False)[:-1]
    lines = [json.dumps(c, ensure_ascii=False) for c in doc["cases"]]
    with open(os.path.join(OUT_DIR, name), "w", encoding="utf-8") as f:
        f.write(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")


def main():
    tiny = RefTokenizer(os.path.join(SHARED, "models", "tinystories-656k", "tokenizer.json"))
    check_golden(tiny)
    stories = RefTokenizer(os.path.join(SHARED, "models", "stories260k", "tokenizer.json"))
    write("stories260k_cases.json", "stories260k", make_cases(stories, STORIES260K_TEXTS))
    write("tinystories656k_cases.json", "tinystories-656k", make_cases(tiny, TINYSTORIES_TEXTS))


if __name__ == "__main__":
    main()
