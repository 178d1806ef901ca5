#!/usr/bin/python3
"""Encode throughput: `minimind tokenizer encode --bench` against Hugging Face `tokenizers`.

Both encode the same documents (one per line, the newline included) with the same tokenizer,
on 1 thread and on all threads, best of --repeat runs; MB = 10^6 bytes of UTF-8 text. HF is
timed on Tokenizer.encode_batch and (when the installed version has it) encode_batch_fast, in a
fresh process per thread count (RAYON_NUM_THREADS), excluding start-up and file reading.
Total token counts of both sides are compared (a throughput win on wrong ids is no win).

  /usr/bin/python3 bench/tokenizer_bench.py [--minimind build/engine/minimind]
      [--tokenizer ../shared/data/minimind_tokenizer] [--text FILE | --mb 20] [--threads N]

Without --text, a mixed Chinese/English corpus is generated (deterministic) from the
tokenizer's own vocabulary: ~60% Chinese paragraphs, ~30% English, ~10% mixed with numbers.

With --train, it times training instead: `minimind tokenizer train` against HF's BpeTrainer
(tests/reference/hf_tokenizer.py train, MiniMind's settings) on the same corpus as JSON Lines,
vocabulary --vocab-size (6400), min frequency 0, and checks the two vocabularies and merge
lists are identical.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

HF_WORKER = r"""
import json, os, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
    docs = f.read().splitlines(keepends=True)
nbytes = sum(len(d.encode("utf-8")) for d in docs)
out = {}
for name in ("encode_batch", "encode_batch_fast"):
    fn = getattr(tok, name, None)
    if fn is None:
        continue
    best, ntok = 1e30, 0
    for _ in range(int(sys.argv[3])):
        t0 = time.perf_counter()
        encs = fn(docs, add_special_tokens=False)
        dt = time.perf_counter() - t0
        best = min(best, dt)
        ntok = sum(len(e.ids) for e in encs)
        del encs
    out[name] = {"seconds": best, "tokens": ntok, "bytes": nbytes, "mb_per_s": nbytes / 1e6 / best}
print(json.dumps(out))
"""


def gen_corpus(tok_json, mb, path):
    vocab = json.load(open(tok_json, encoding="utf-8"))["model"]["vocab"]
    bl = bytes_to_unicode_inv()
    zh, en = [], []
    for s in vocab:
        try:
            t = bytes(bl[c] for c in s).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
        if t and all("\u4e00" <= c <= "\u9fff" for c in t):
            zh.append(t)
        elif t.startswith(" ") and t[1:].isascii() and t[1:].isalpha() and len(t) > 2:
            en.append(t[1:])
    rng = random.Random(1234)
    target = int(mb * 1e6)
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            r = rng.random()
            sents = []
            for _ in range(rng.randint(2, 8)):
                if r < 0.6:
                    s = "".join(rng.choice(zh) for _ in range(rng.randint(4, 20)))
                    sents.append(s + rng.choice("，。。！？"))
                elif r < 0.9:
                    s = " ".join(rng.choice(en) for _ in range(rng.randint(5, 18)))
                    sents.append(s.capitalize() + rng.choice([".", ".", ",", "?", "!"]) + " ")
                else:
                    s = "".join(rng.choice(zh) for _ in range(rng.randint(2, 8)))
                    s += " %s %d%s " % (rng.choice(en), rng.randint(0, 100000), rng.choice(["年", "%", " km", "."]))
                    sents.append(s)
            line = "".join(sents).strip() + "\n"
            f.write(line)
            size += len(line.encode("utf-8"))


def bytes_to_unicode_inv():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def run_ours(exe, tok, text, threads, repeat):
    out = subprocess.run([exe, "tokenizer", "encode", "--tokenizer", tok, "--bench", text, "--threads",
                          str(threads), "--repeat", str(repeat)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run_hf(tok_json, text, threads, repeat):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    out = subprocess.run([sys.executable, "-c", HF_WORKER, tok_json, text, str(repeat)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def bench_train(a, text, tmp):
    import time
    jsonl = os.path.join(tmp, "corpus.jsonl")
    with open(text, encoding="utf-8") as f, open(jsonl, "w", encoding="utf-8") as g:
        for line in f:
            g.write(json.dumps({"text": line.rstrip("\n")}, ensure_ascii=False) + "\n")
    ours, hf = os.path.join(tmp, "ours"), os.path.join(tmp, "hf")
    t0 = time.perf_counter()
    subprocess.run([a.minimind, "tokenizer", "train", "--data", jsonl, "--out", ours, "--vocab-size",
                    str(a.vocab_size), "--min-frequency", "0", "--threads", str(a.threads)], check=True,
                   capture_output=True)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "reference", "hf_tokenizer.py"), "train", hf,
                    str(a.vocab_size), "0", jsonl], check=True, env=env)
    t_hf = time.perf_counter() - t0
    mo = json.load(open(os.path.join(ours, "tokenizer.json"), encoding="utf-8"))["model"]
    mh = json.load(open(os.path.join(hf, "tokenizer.json"), encoding="utf-8"))["model"]
    same = mo["vocab"] == mh["vocab"] and mo["merges"] == [" ".join(m) if isinstance(m, list) else m
                                                           for m in mh["merges"]]
    print("| threads | vocab | minimind train s | HF BpeTrainer s | identical vocab + merges |")
    print("|---:|---:|---:|---:|---|")
    print("| %d | %d | %.1f | %.1f | %s |" % (a.threads, a.vocab_size, t_ours, t_hf, "yes" if same else "NO"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minimind", default=os.path.join(ROOT, "build", "engine", "minimind"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "data", "minimind_tokenizer"))
    ap.add_argument("--text")
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--train", action="store_true", help="time training instead of encoding")
    ap.add_argument("--vocab-size", type=int, default=6400)
    a = ap.parse_args()
    tok_json = a.tokenizer if a.tokenizer.endswith(".json") else os.path.join(a.tokenizer, "tokenizer.json")
    import tokenizers
    with tempfile.TemporaryDirectory() as tmp:
        text = a.text
        if not text:
            text = os.path.join(tmp, "corpus.txt")
            gen_corpus(tok_json, a.mb, text)
        nbytes = os.path.getsize(text)
        print("text: %s, %.1f MB; tokenizer: %s; cpu threads: %d; tokenizers %s" %
              (a.text or "generated zh/en", nbytes / 1e6, tok_json, os.cpu_count(), tokenizers.__version__))
        print()
        if a.train:
            bench_train(a, text, tmp)
            return
        print("| threads | minimind MB/s | HF encode_batch MB/s | HF encode_batch_fast MB/s | tokens (ours = HF) |")
        print("|---:|---:|---:|---:|---|")
        for th in sorted({1, a.threads}):
            ours = run_ours(a.minimind, tok_json, text, th, a.repeat)
            hf = run_hf(tok_json, text, th, a.repeat)
            fast = hf.get("encode_batch_fast")
            same = all(v["tokens"] == ours["tokens"] for v in hf.values())
            print("| %d | %.1f | %.1f | %s | %d (%s) |" % (
                th, ours["mb_per_s"], hf["encode_batch"]["mb_per_s"], "%.1f" % fast["mb_per_s"] if fast else "n/a",
                ours["tokens"], "same" if same else "DIFFERENT: HF %s" % {k: v["tokens"] for k, v in hf.items()}))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
