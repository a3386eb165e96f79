"""What the session-11 manager (GRPO, f1-accepted) keeps that the untrained manager does not, on conv-30 s1-6.

    .venv/bin/python benchmarks/results/session12-bank-compare/compare.py > benchmarks/results/session12-bank-compare/compare.txt

For every live memory of one bank, the cosine (stored MiniLM vectors) of the nearest live memory of
the other bank, bucketed; a sample of the memories with nothing near (< 0.6) in the other bank.
Also: the facts the untrained manager NOOPed, and how close the nearest memory of its final bank is
(a NOOP with nothing near dropped the fact).
"""

import os
import random

import numpy as np

from edgemem.embedder import Embedder
from edgemem.store import Store

BANKS = os.path.expanduser("~/.cache/edgemem/banks/")
UNTRAINED = BANKS + "conv-30-qwen2.5-coder-0-b823cb50b0ac.db"
TRAINED = BANKS + "conv-30-qwen2.5-coder-0-28993692ddf6.db"


def live(path):
    s = Store(path)
    (user,) = s.users()
    ms = s.memories(user)
    vectors = s.vectors([m.id for m in ms])
    return s, user, ms, np.array([vectors[m.id] for m in ms])


def buckets(best):
    return {
        "<0.6": int((best < 0.6).sum()),
        "0.6-0.8": int(((best >= 0.6) & (best < 0.8)).sum()),
        ">=0.8": int((best >= 0.8).sum()),
    }


us, user, um, U = live(UNTRAINED)
ts, _, tm, T = live(TRAINED)
random.seed(0)
for name, ms, A, B in (("trained", tm, T, U), ("untrained", um, U, T)):
    best = (A @ B.T).max(axis=1)
    print(f"{name}: {len(ms)} live memories; nearest memory of the other bank: {buckets(best)}")
    far = [(b, m.text) for b, m in zip(best, ms, strict=True) if b < 0.6]
    for b, text in random.sample(far, min(12, len(far))):
        print(f"   {b:.2f}  {text}")
noops = [h.detail for h in us.history(user) if h.op == "NOOP" and h.detail and h.detail != "duplicate ADD"]
best = (Embedder(threads=1).embed(noops) @ U.T).max(axis=1)
print(f"untrained NOOPs of a fact: {len(noops)}; nearest memory of its own final bank: {buckets(best)}")
for b, text in random.sample([(b, f) for b, f in zip(best, noops, strict=True) if b < 0.6], 8):
    print(f"   {b:.2f}  {text}")
