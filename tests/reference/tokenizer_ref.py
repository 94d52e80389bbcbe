#!/usr/bin/python3
"""Independent reference for the WordPiece and byte-level BPE tokenizer.json
pipelines (Hugging Face `tokenizers` semantics), used by
make_tokenizer_fixtures.py. It shares no code with strata: Unicode data comes
from Python's unicodedata, the pre-tokenizer regexes run on the `regex`
module (apt-get install python3-regex) with the patterns exactly as they
appear in tokenizer.json, except that `\\s`/`\\S` are spelled as
White_Space (what Oniguruma and Rust's regex mean by them; Python's `\\s`
also takes U+001C..U+001F).

Covers the components the fixtures use: normalizers BertNormalizer, NFD, NFC,
Lowercase, StripAccents, Sequence; pre-tokenizers BertPreTokenizer,
WhitespaceSplit, Punctuation, ByteLevel, Split, Sequence; models WordPiece and
BPE (ignore_merges, no dropout); post-processors TemplateProcessing,
BertProcessing, ByteLevel, Sequence; decoders WordPiece, ByteLevel, Sequence;
added tokens (no lstrip/rstrip); truncation LongestFirst, right.
"""
import json
import unicodedata as ud

import regex

WS = regex.compile(r"\p{White_Space}")


def is_ws(c):
    return WS.fullmatch(c) is not None


def translate_regex(p):
    return p.replace("\\s", "\\p{White_Space}").replace("\\S", "\\P{White_Space}")


# GPT-2's byte <-> unicode alphabet, as in the original encoder.py.
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def char_lower(s):
    # Rust's NormalizedString::lowercase maps char by char (no final sigma rule).
    return "".join(c.lower() for c in s)


def is_chinese(c):
    # HF's bert.rs has 0x2B920 for the start of Extension E (BERT's Python: 0x2B820).
    cp = ord(c)
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                         (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def normalize(n, s):
    if n is None:
        return s
    t = n["type"]
    if t == "Sequence":
        for m in n["normalizers"]:
            s = normalize(m, s)
        return s
    if t == "NFD" or t == "NFC":
        return ud.normalize(t, s)
    if t == "Lowercase":
        return char_lower(s)
    if t == "StripAccents":
        return "".join(c for c in s if not ud.category(c).startswith("M"))
    if t == "BertNormalizer":
        if n.get("clean_text", True):
            out = []
            for c in s:
                if ord(c) == 0 or ord(c) == 0xFFFD or (c not in "\t\n\r" and ud.category(c).startswith("C")):
                    continue
                out.append(" " if c in "\t\n\r" or is_ws(c) else c)
            s = "".join(out)
        if n.get("handle_chinese_chars", True):
            s = "".join(" %s " % c if is_chinese(c) else c for c in s)
        lower = n.get("lowercase", True)
        strip = n.get("strip_accents")
        if strip is None:
            strip = lower
        if strip:
            s = "".join(c for c in ud.normalize("NFD", s) if ud.category(c) != "Mn")
        if lower:
            s = char_lower(s)
        return s
    raise ValueError("reference: normalizer %s not covered" % t)


# ---- splitting as NormalizedString::split ---------------------------------------

def pieces_from_matches(s, spans):
    out, prev = [], 0
    for a, b in spans:
        if prev != a:
            out.append((prev, a, False))
        out.append((a, b, True))
        prev = b
    if prev != len(s) or not s:
        out.append((prev, len(s), False))
    return out


def split(s, pieces, behavior, invert=False):
    if invert:
        pieces = [(a, b, not m) for a, b, m in pieces]
    res = []
    if behavior == "Isolated":
        res = [(a, b) for a, b, _ in pieces]
    elif behavior == "Removed":
        res = [(a, b) for a, b, m in pieces if not m]
    elif behavior == "Contiguous":
        prev = False
        for a, b, m in pieces:
            if res and m == prev:
                res[-1] = (res[-1][0], b)
            else:
                res.append((a, b))
            prev = m
    elif behavior == "MergedWithPrevious":
        prev = False
        for a, b, m in pieces:
            if res and m and not prev:
                res[-1] = (res[-1][0], b)
            else:
                res.append((a, b))
            prev = m
    elif behavior == "MergedWithNext":
        prev = False
        for a, b, m in reversed(pieces):
            if res and m and not prev:
                res[-1] = (a, res[-1][1])
            else:
                res.append((a, b))
            prev = m
        res.reverse()
    else:
        raise ValueError(behavior)
    return [s[a:b] for a, b in res if b > a]


def char_matches(s, pred):
    return [(i, i + 1) for i, c in enumerate(s) if pred(c)]


def regex_matches(s, pattern):
    return [m.span() for m in regex.finditer(translate_regex(pattern), s)]


def bert_punct(c):
    cp = ord(c)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or ud.category(c).startswith("P")


def pre_tokenize(p, words):
    if p is None:
        return words
    t = p["type"]
    out = []
    if t == "Sequence":
        for q in p["pretokenizers"]:
            words = pre_tokenize(q, words)
        return words
    for w in words:
        if t == "BertPreTokenizer":
            for x in split(w, pieces_from_matches(w, char_matches(w, is_ws)), "Removed"):
                out += split(x, pieces_from_matches(x, char_matches(x, bert_punct)), "Isolated")
        elif t == "WhitespaceSplit":
            out += split(w, pieces_from_matches(w, char_matches(w, is_ws)), "Removed")
        elif t == "Punctuation":
            out += split(w, pieces_from_matches(w, char_matches(w, bert_punct)), p.get("behavior", "Isolated"))
        elif t == "Split":
            pat = p["pattern"]
            if "Regex" in pat:
                spans = regex_matches(w, pat["Regex"])
            else:
                spans = [m.span() for m in regex.finditer(regex.escape(pat["String"]), w)]
            out += split(w, pieces_from_matches(w, spans), p["behavior"], p.get("invert", False))
        elif t == "ByteLevel":
            if p["add_prefix_space"] and not w.startswith(" "):
                w = " " + w
            parts = split(w, pieces_from_matches(w, regex_matches(w, GPT2_PATTERN)), "Isolated") \
                if p.get("use_regex", True) else [w]
            out += ["".join(BYTE_TO_CHAR[b] for b in x.encode("utf-8")) for x in parts]
        else:
            raise ValueError("reference: pre_tokenizer %s not covered" % t)
    return [w for w in out if w]


# ---- models -------------------------------------------------------------------------

class WordPiece:
    def __init__(self, m):
        self.vocab = m["vocab"]
        self.unk = m["unk_token"]
        self.prefix = m.get("continuing_subword_prefix", "##")
        self.max_chars = m.get("max_input_chars_per_word", 100)

    def tokenize(self, word):
        if len(word) > self.max_chars:
            return [self.vocab[self.unk]]
        out, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = self.prefix + sub
                if sub in self.vocab:
                    cur = self.vocab[sub]
                    break
                end -= 1
            if cur is None:
                return [self.vocab[self.unk]]
            out.append(cur)
            start = end
        return out


class BPE:
    def __init__(self, m):
        self.vocab = m["vocab"]
        self.ranks = {}
        for i, mg in enumerate(m["merges"]):
            a, b = mg.split(" ") if isinstance(mg, str) else mg
            self.ranks[(a, b)] = i
        self.ignore_merges = m.get("ignore_merges", False)
        assert not m.get("byte_fallback") and m.get("unk_token") is None

    def tokenize(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        syms = [c for c in word if c in self.vocab]
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab[s] for s in syms]


# ---- the tokenizer ---------------------------------------------------------------------

class Tokenizer:
    def __init__(self, j):
        self.j = j
        m = j["model"]
        self.model = WordPiece(m) if m["type"] == "WordPiece" else BPE(m)
        self.added = j.get("added_tokens") or []
        for a in self.added:
            assert not a["lstrip"] and not a["rstrip"] and not a["single_word"]
        self.id_to_piece = {i: p for p, i in m["vocab"].items()}
        for a in self.added:
            self.id_to_piece[a["id"]] = a["content"]
        self.special = {a["id"] for a in self.added if a["special"]}

    @staticmethod
    def from_file(path):
        with open(path, encoding="utf-8") as f:
            return Tokenizer(json.load(f))

    def split_added(self, text, tokens):
        """Leftmost-longest matching of the added tokens' contents."""
        out, pos, gap = [], 0, 0
        while pos < len(text):
            best = None
            for content, i in tokens:
                if text.startswith(content, pos) and (best is None or len(content) > len(best[0])):
                    best = (content, i)
            if best is None:
                pos += 1
                continue
            if gap < pos:
                out.append(text[gap:pos])
            out.append(best[1])
            pos += len(best[0])
            gap = pos
        if gap < len(text):
            out.append(text[gap:])
        return out

    def encode_seq(self, text):
        raw = [(a["content"], a["id"]) for a in self.added if not a["normalized"]]
        norm = [(normalize(self.j.get("normalizer"), a["content"]), a["id"]) for a in self.added if a["normalized"]]
        ids = []
        for seg in self.split_added(text, raw):
            if isinstance(seg, int):
                ids.append(seg)
                continue
            for s2 in self.split_added(normalize(self.j.get("normalizer"), seg), norm):
                if isinstance(s2, int):
                    ids.append(s2)
                    continue
                for w in pre_tokenize(self.j.get("pre_tokenizer"), [s2]):
                    ids += self.model.tokenize(w)
        return ids

    # post-processor
    def processors(self):
        p = self.j.get("post_processor")
        if p is None:
            return []
        return p["processors"] if p["type"] == "Sequence" else [p]

    def added_count(self, pair):
        n = 0
        for p in self.processors():
            if p["type"] == "TemplateProcessing":
                for item in p["pair" if pair else "single"]:
                    if "SpecialToken" in item:
                        n += len(p["special_tokens"][item["SpecialToken"]["id"]]["ids"])
            elif p["type"] == "BertProcessing":
                n += 3 if pair else 2
        return n

    def post_process(self, a, b, add_special):
        ta, tb = [0] * len(a), ([1] * len(b) if b is not None else None)
        for p in self.processors():
            if p["type"] == "TemplateProcessing":
                ids, types = [], []
                for item in p["pair" if b is not None else "single"]:
                    if "Sequence" in item:
                        seq = a if item["Sequence"]["id"] == "A" else b
                        ids += seq
                        types += [item["Sequence"]["type_id"]] * len(seq)
                    elif add_special:
                        sp = p["special_tokens"][item["SpecialToken"]["id"]]["ids"]
                        ids += sp
                        types += [item["SpecialToken"]["type_id"]] * len(sp)
                return ids, types
            if p["type"] == "BertProcessing" and add_special:
                cls, sep = p["cls"][1], p["sep"][1]
                ids, types = [cls] + a + [sep], [0] * (len(a) + 2)
                if b is not None:
                    ids += b + [sep]
                    types += [1] * (len(b) + 1)
                return ids, types
        return a + (b or []), ta + (tb or [])

    def encode(self, a, b=None, add_special=True, max_length=0):
        ea = self.encode_seq(a)
        eb = self.encode_seq(b) if b is not None else None
        truncated = False
        if max_length > 0:
            n_added = self.added_count(b is not None) if add_special else 0
            if max_length < n_added:
                raise ValueError("max_length below the special tokens")
            ea, eb, truncated = truncate(ea, eb, max_length - n_added)
        ids, types = self.post_process(ea, eb, add_special)
        return ids, types, truncated

    # decode
    def decode(self, ids, skip_special=False):
        toks = [self.id_to_piece[i] for i in ids if not (skip_special and i in self.special)]
        d = self.j.get("decoder")
        if d is None:
            return " ".join(toks)
        return "".join(decode_chain(d, toks))


def truncate(a, b, max_length):
    total = len(a) + (len(b) if b is not None else 0)
    if max_length == 0:
        return [], ([] if b is not None else None), total > 0
    if total <= max_length:
        return a, b, False
    if b is None:
        return a[:max_length], None, True
    n1, n2 = len(a), len(b)
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1
    n2 = n1 if n1 > max_length else max(n1, max_length - n1)
    if n1 + n2 > max_length:
        n1 = max_length // 2
        n2 = n1 + max_length % 2
    if swap:
        n1, n2 = n2, n1
    return a[:n1], b[:n2], True


def wordpiece_cleanup(s):
    for x, y in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                 (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]:
        s = s.replace(x, y)
    return s


def decode_chain(d, toks):
    t = d["type"]
    if t == "Sequence":
        for e in d["decoders"]:
            toks = decode_chain(e, toks)
        return toks
    if t == "WordPiece":
        out = []
        for i, tok in enumerate(toks):
            if i != 0:
                tok = tok[len(d["prefix"]):] if tok.startswith(d["prefix"]) else " " + tok
            if d["cleanup"]:
                tok = wordpiece_cleanup(tok)
            out.append(tok)
        return out
    if t == "ByteLevel":
        data = b""
        for tok in toks:
            if all(c in CHAR_TO_BYTE for c in tok):
                data += bytes(CHAR_TO_BYTE[c] for c in tok)
            else:
                data += tok.encode("utf-8")
        return [data.decode("utf-8", errors="replace")]
    raise ValueError("reference: decoder %s not covered" % t)
