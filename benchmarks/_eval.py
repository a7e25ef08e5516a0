"""Locate and read the shared evaluation data (../shared/eval, or $KHULASA_EVAL_DIR); never copied into the repo."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from news.normalize import normalize_arabic

REPO = Path(__file__).resolve().parents[1]


def eval_dir() -> Path:
    """The shared eval folder: $KHULASA_EVAL_DIR, else the `shared/eval` next to the repository."""
    override = os.environ.get("KHULASA_EVAL_DIR")
    return Path(override) if override else REPO.parent / "shared" / "eval"


def require_eval_dir() -> Path:
    """The eval folder, or exit cleanly (status 0) with a message when it is absent."""
    folder = eval_dir()
    if not (folder / "summaries.jsonl").is_file():
        print(f"No evaluation data at {folder} (set KHULASA_EVAL_DIR to the shared/eval folder); nothing to do.")
        sys.exit(0)
    return folder


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass(frozen=True)
class Score:
    """Precision, recall and F1 from true/false positives and false negatives.

    `empty` is the precision (recall) reported when nothing was predicted (nothing was to be found).
    """

    tp: int
    fp: int
    fn: int
    empty: float = 0.0

    @property
    def precision(self) -> float:
        """Share of predictions that are right."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else self.empty

    @property
    def recall(self) -> float:
        """Share of the gold items found."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else self.empty

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def dev_ids(folder: Path) -> frozenset[str]:
    """The EASC ids one may tune on; every other id is held out."""
    return frozenset(json.loads((folder / "dev-ids.json").read_text(encoding="utf-8"))["dev"])


# ---- fitting small models (pure Python: a dozen features, thousands of rows) -----------------------------


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small dense linear system (Gaussian elimination with partial pivoting)."""
    n = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col and rows[r][col]:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def logistic_newton(xs: Sequence[Sequence[float]], ys: Sequence[float], l2: float, rounds: int = 25) -> list[float]:
    """L2-regularised logistic regression (labels in [0, 1]; add a constant column for an intercept), Newton steps."""
    d = len(xs[0])
    w = [0.0] * d
    for _ in range(rounds):
        grad = [l2 * wk for wk in w]
        hess = [[l2 * (i == j) for j in range(d)] for i in range(d)]
        for x, y in zip(xs, ys, strict=True):
            z = sum(wk * xk for wk, xk in zip(w, x, strict=True))
            p = 1 / (1 + math.exp(-max(min(z, 30.0), -30.0)))
            for i in range(d):
                grad[i] += (p - y) * x[i]
                for j in range(d):
                    hess[i][j] += p * (1 - p) * x[i] * x[j]
        step = _solve(hess, grad)
        w = [wk - sk for wk, sk in zip(w, step, strict=True)]
        if max(map(abs, step)) < 1e-7:
            break
    return w


# ---- an Arabic-aware ROUGE (rouge_score's default tokeniser drops Arabic letters) -----------------------

_WORD = re.compile(r"\w+")


def rouge_tokens(text: str) -> list[str]:
    """ROUGE tokens: normalised Arabic words with a light leading "و" and "ال" strip."""
    out = []
    for word in _WORD.findall(normalize_arabic(text)):
        if word.startswith("و") and len(word) > 3:
            word = word[1:]
        if word.startswith("ال") and len(word) > 3:
            word = word[2:]
        out.append(word)
    return out


def _ngrams(toks: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Multiset of the n-grams of a token sequence."""
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def _f1(overlap: int, n_candidate: int, n_reference: int) -> float:
    """F1 of an overlap count."""
    if not overlap:
        return 0.0
    precision, recall = overlap / n_candidate, overlap / n_reference
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


class References:
    """Pre-tokenised references of one article, scored by mean F1 over the references."""

    def __init__(self, references: Sequence[str]) -> None:
        self.raw = tuple(references)
        self.toks = [rouge_tokens(ref) for ref in references]
        self.grams = {n: [_ngrams(t, n) for t in self.toks] for n in (1, 2)}

    def rouge_n(self, candidate: Sequence[str], n: int) -> float:
        """Mean ROUGE-n F1 (×100) of candidate tokens over the references."""
        cand = _ngrams(candidate, n)
        total = sum(cand.values())
        scores = [_f1(sum((cand & ref).values()), total, sum(ref.values())) for ref in self.grams[n]]
        return 100 * sum(scores) / len(scores)

    def rouge_l(self, candidate: Sequence[str]) -> float:
        """Mean ROUGE-L F1 (×100) of candidate tokens over the references."""
        scores = [_f1(_lcs(candidate, ref), len(candidate), len(ref)) for ref in self.toks]
        return 100 * sum(scores) / len(scores)

    def scores(self, summary: str) -> tuple[float, float, float]:
        """(ROUGE-1, ROUGE-2, ROUGE-L) of a summary."""
        toks = rouge_tokens(summary)
        return self.rouge_n(toks, 1), self.rouge_n(toks, 2), self.rouge_l(toks)
