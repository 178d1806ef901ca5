#!/usr/bin/env python3
"""Memory/throughput check for `minimind prep pretrain` (not part of ctest).

Generates a deterministic JSON Lines corpus of about --mb megabytes (mixed Chinese/English
documents of 100..3000 characters, seed 1234), runs `minimind prep pretrain` on it under
`/usr/bin/time -v`, and prints the peak resident memory and the throughput prep reports.

usage: bench/prep_pretrain_mem.py [--mb 200] [--threads 0] [--minimind build/engine/minimind]
                                  [--tokenizer ../shared/data/minimind_tokenizer] [--workdir /tmp/mm_prep_bench]
The corpus is cached in the work directory (delete it to regenerate).
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EN = ("the model learns a memory layer that stores facts about people places and events in a table "
      "of sentences which can be read by humans and retrieved by attention during pretraining").split()
ZH = list("我们研究一种可以被人类阅读的记忆层它把知识存储为句子在训练时通过注意力检索并与前馈网络相结合"
          "语言模型的参数量很小但是数据量很大中文和英文混合的语料用于预训练")


def make_doc(rng):
    n = rng.randint(100, 3000)
    parts, size = [], 0
    while size < n:
        if rng.random() < 0.6:
            s = "".join(rng.choice(ZH) for _ in range(rng.randint(8, 40))) + "。"
        else:
            s = " ".join(rng.choice(EN) for _ in range(rng.randint(5, 25))).capitalize() + ". "
        parts.append(s)
        size += len(s)
    return "".join(parts)


def generate(path, mb, seed=1234):
    rng = random.Random(seed)
    target = mb * 1_000_000
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            line = json.dumps({"text": make_doc(rng)}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--minimind", default=os.path.join(ROOT, "build", "engine", "minimind"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "data", "minimind_tokenizer"))
    ap.add_argument("--workdir", default="/tmp/mm_prep_bench")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    data = os.path.join(a.workdir, f"corpus_{a.mb}mb_seed1234.jsonl")
    if not os.path.exists(data):
        print(f"generating {data} ...", flush=True)
        generate(data, a.mb)
    out = os.path.join(a.workdir, "corpus.tok")
    cmd = ["/usr/bin/time", "-v", a.minimind, "prep", "pretrain", "--tokenizer", a.tokenizer, "--data", data,
           "--out", out, "--max-seq-len", "512", "--threads", str(a.threads)]
    print("$ " + " ".join(cmd), flush=True)
    env = dict(os.environ, MM_QUIET="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(p.returncode)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    mbs = float(re.search(r"= ([0-9.]+) MB/s", p.stdout).group(1))
    size_mb = os.path.getsize(data) / 1e6
    print(f"input: {size_mb:.1f} MB   peak RSS: {rss_kb / 1024:.1f} MiB   throughput: {mbs:.2f} MB/s   "
          f"wall: {wall}   threads: {a.threads or os.cpu_count()}")
    if rss_kb / 1024 >= 500:
        print("FAIL: peak RSS above 500 MB")
        sys.exit(1)


if __name__ == "__main__":
    main()
