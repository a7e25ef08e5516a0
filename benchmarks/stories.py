"""Story grouping: pairwise P/R/F1 on shared/eval/stories-dev.jsonl, ours vs title-match and shingle baselines.

Every method clusters ALL articles of stories-articles.jsonl; the labelled dev pairs are then read off
that one grouping (borderline pairs left out of the main figures, counted in the "with borderline" ones).

Run: .venv/bin/python benchmarks/stories.py   (the last line printed is one JSON object: the online
StoryIndex figures, what the bot uses; baseline_f1 is the best plain baseline)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._eval import Score, logistic_newton, read_jsonl
from benchmarks._evaldir import eval_dir
from news import dedupe
from news.dedupe import StoryIndex, content_tokens, fingerprint, group_stories, idf_table, pair_features
from news.normalize import words

SHINGLE_THRESHOLD = 0.12  # the best plain shingle baseline
TITLE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


@dataclass(frozen=True)
class Article:
    """One article of stories-articles.jsonl."""

    id: str
    source: str
    date: datetime
    title: str
    text: str


@dataclass(frozen=True)
class Pair:
    """One labelled pair."""

    a: str
    b: str
    same: bool
    borderline: bool


def load(folder: Path) -> tuple[list[Article], list[Pair]]:
    """The articles and the labelled dev pairs."""
    articles = [
        Article(r["id"], r["source"], datetime.fromisoformat(r["date"]), r["title"], r["text"])
        for r in read_jsonl(folder / "stories-articles.jsonl")
    ]
    pairs = [
        Pair(r["a"], r["b"], r["label"] == "same_story", bool(r["borderline"]))
        for r in read_jsonl(folder / "stories-dev.jsonl")
    ]
    return articles, pairs


def score(groups: Mapping[str, str], pairs: Iterable[Pair], *, borderline: bool = False) -> Score:
    """Pairwise counts of a grouping (doc id → story id) on the labelled pairs."""
    tp = fp = fn = 0
    for pair in pairs:
        if pair.borderline and not borderline:
            continue
        together = groups[pair.a] == groups[pair.b]
        tp += together and pair.same
        fp += together and not pair.same
        fn += pair.same and not together
    return Score(tp, fp, fn)


def single_link(ids: Sequence[str], linked: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Connected components of a set of links (doc id → smallest id of its component)."""
    parent = {doc_id: doc_id for doc_id in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in linked:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {doc_id: root(doc_id) for doc_id in ids}


def jaccard_links(sets: Mapping[str, frozenset[Any]], threshold: float) -> list[tuple[str, str]]:
    """Pairs whose set Jaccard reaches a threshold (via an inverted index)."""
    postings: dict[Any, list[str]] = defaultdict(list)
    for doc_id in sorted(sets):
        for item in sets[doc_id]:
            postings[item].append(doc_id)
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for docs in postings.values():
        for i, a in enumerate(docs):
            for b in docs[i + 1 :]:
                shared[(a, b)] += 1
    return [(a, b) for (a, b), n in shared.items() if n / (len(sets[a]) + len(sets[b]) - n) >= threshold]


def shingles(article: Article) -> frozenset[tuple[str, ...]]:
    """Word 3-grams of the title and of the text (normalised words)."""
    out: set[tuple[str, ...]] = set()
    for part in (article.title, article.text):
        toks = words(part)
        out.update(zip(toks, toks[1:], toks[2:], strict=False))
    return frozenset(out)


def title_exact(articles: Sequence[Article]) -> dict[str, str]:
    """Baseline: same normalised title words, same story."""
    first: dict[tuple[str, ...], str] = {}
    return {a.id: first.setdefault(tuple(words(a.title)), a.id) for a in articles}


def title_jaccard(articles: Sequence[Article], threshold: float) -> dict[str, str]:
    """Baseline: single-link over title content-word Jaccard."""
    sets = {a.id: frozenset(content_tokens(a.title)) for a in articles}
    return single_link([a.id for a in articles], jaccard_links(sets, threshold))


def shingle_jaccard(articles: Sequence[Article], threshold: float = SHINGLE_THRESHOLD) -> dict[str, str]:
    """Baseline: single-link over word-3-gram shingle Jaccard."""
    sets = {a.id: shingles(a) for a in articles}
    return single_link([a.id for a in articles], jaccard_links(sets, threshold))


def ours(articles: Sequence[Article]) -> dict[str, str]:
    """Our batch grouping: fingerprints, then `group_stories`."""
    docs = [(a.id, fingerprint(a.title, a.text, source=a.source, published=a.date)) for a in articles]
    return group_stories(docs)


def ours_online(articles: Sequence[Article], *, merges: bool = True) -> dict[str, str]:
    """The bot's online grouping: `StoryIndex.place` in publication order, later merges applied like the bot.

    Without `merges` every story is settled as soon as it starts (as if each were pushed at once), so no
    two stories ever merge: the worst case for recall.
    """
    index = StoryIndex()
    assigned: dict[str, str] = {}
    merged_into: dict[str, str] = {}
    for a in sorted(articles, key=lambda a: (a.date, a.id)):
        placement = index.place(a.id, fingerprint(a.title, a.text, source=a.source, published=a.date))
        assigned[a.id] = placement.story
        merged_into.update(dict.fromkeys(placement.absorbed, placement.story))
        if not merges:
            index.settle(placement.story)

    def final(story: str) -> str:
        while story in merged_into:
            story = merged_into[story]
        return story

    return {doc_id: final(story) for doc_id, story in assigned.items()}


def timed(method: Callable[[], dict[str, str]]) -> tuple[dict[str, str], float]:
    """A grouping and the seconds it took."""
    start = time.perf_counter()
    groups = method()
    return groups, time.perf_counter() - start


def row(name: str, groups: Mapping[str, str], pairs: Sequence[Pair], seconds: float | None, n: int) -> str:
    """One line of the results table."""
    main, every = score(groups, pairs), score(groups, pairs, borderline=True)
    speed = f"{n / seconds:>8.0f}" if seconds else f"{'':>8}"
    return (
        f"{name:<36} {100 * main.precision:>5.1f} {100 * main.recall:>5.1f} {100 * main.f1:>5.1f}"
        f"   {100 * every.precision:>5.1f} {100 * every.recall:>5.1f} {100 * every.f1:>5.1f}   {speed}"
    )


# ---- cross-validating the pair model (dev pairs only) ---------------------------------------------------


def pair_folds(pairs: Sequence[Pair], folds: int = 5, seed: int = 20150809) -> list[int]:
    """A fold for each pair; whole connected components of the pair graph go to one fold."""
    ids = sorted({p.a for p in pairs} | {p.b for p in pairs})
    component = single_link(ids, [(p.a, p.b) for p in pairs])
    roots = sorted(set(component.values()))
    random.Random(seed).shuffle(roots)
    fold_of = {root: k % folds for k, root in enumerate(roots)}
    return [fold_of[component[p.a]] for p in pairs]


def fit_pair_model(
    articles: Sequence[Article], pairs: Sequence[Pair], l2: float = 1.0
) -> tuple[tuple[float, ...], float]:
    """(weights, bias) of the logistic pair model on non-borderline pairs, IDF from all articles."""
    sigs = {a.id: fingerprint(a.title, a.text, source=a.source, published=a.date) for a in articles}
    idf = idf_table(sigs.values())
    kept = [p for p in pairs if not p.borderline]
    xs = [[*pair_features(sigs[p.a], sigs[p.b], idf).values(), 1.0] for p in kept]
    w = logistic_newton(xs, [float(p.same) for p in kept], l2)
    return tuple(round(v, 3) for v in w[:-1]), round(w[-1], 3)


def cross_validate(articles: Sequence[Article], pairs: Sequence[Pair]) -> dict[str, Score]:
    """Online and batch scores of pair models refitted without each fold, read on that fold's pairs only."""
    saved = dedupe._WEIGHTS, dedupe._BIAS
    fold = pair_folds(pairs)
    counts = {"online": [0, 0, 0], "batch": [0, 0, 0]}
    try:
        for k in sorted(set(fold)):
            train = [p for p, f in zip(pairs, fold, strict=True) if f != k]
            held = [p for p, f in zip(pairs, fold, strict=True) if f == k]
            dedupe._WEIGHTS, dedupe._BIAS = fit_pair_model(articles, train)
            for name, groups in (("online", ours_online(articles)), ("batch", ours(articles))):
                result = score(groups, held)
                counts[name] = [a + b for a, b in zip(counts[name], (result.tp, result.fp, result.fn), strict=True)]
    finally:
        dedupe._WEIGHTS, dedupe._BIAS = saved
    return {name: Score(*c) for name, c in counts.items()}


def main() -> None:
    """Print the table and the JSON line (or, with --cv, cross-validated figures of a refitted pair model)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv", action="store_true", help="cross-validate the pair model on the dev pairs")
    args = parser.parse_args()
    folder = eval_dir()
    if folder is None or not (folder / "stories-dev.jsonl").is_file():
        print("No story evaluation data (set KHULASA_EVAL_DIR to the shared/eval folder); nothing to do.")
        return
    articles, pairs = load(folder)
    if args.cv:
        for name, result in cross_validate(articles, pairs).items():
            print(f"5-fold CV over pair-graph components, {name}: P {100 * result.precision:.1f} "
                  f"R {100 * result.recall:.1f} F1 {100 * result.f1:.1f}")  # fmt: skip
        weights, bias = fit_pair_model(articles, pairs)
        print(f"refitted on all dev pairs: _WEIGHTS = {weights}, _BIAS = {bias}")
        return
    n = len(articles)
    kept = [p for p in pairs if not p.borderline]
    print(
        f"{n} articles clustered together; {len(pairs)} dev pairs, {len(kept)} without borderline "
        f"({sum(p.same for p in kept)} same story)."
    )
    header = f"{'method':<36} {'P':>5} {'R':>5} {'F1':>5}   {'P+b':>5} {'R+b':>5} {'F1+b':>5}   {'art/s':>8}"
    print(header)
    print("-" * len(header))
    exact, exact_s = timed(lambda: title_exact(articles))
    print(row("title match (same title words)", exact, pairs, exact_s, n))
    best_title: tuple[float, float, dict[str, str]] | None = None
    for threshold in TITLE_THRESHOLDS:
        groups = title_jaccard(articles, threshold)
        f1 = score(groups, pairs).f1
        if best_title is None or f1 > best_title[0]:
            best_title = (f1, threshold, groups)
    assert best_title is not None
    print(row(f"title Jaccard >= {best_title[1]} (best), single", best_title[2], pairs, None, n))
    shingle, shingle_s = timed(lambda: shingle_jaccard(articles))
    print(row(f"shingle Jaccard >= {SHINGLE_THRESHOLD}, single-link", shingle, pairs, shingle_s, n))
    settled, settled_s = timed(lambda: ours_online(articles, merges=False))
    print(row("ours, online, every story settled", settled, pairs, settled_s, n))
    online, online_s = timed(lambda: ours_online(articles))
    print(row("ours, online (StoryIndex.place): bot", online, pairs, online_s, n))
    batch, batch_s = timed(lambda: ours(articles))
    print(row("ours, batch (group_stories)", batch, pairs, batch_s, n))
    print("P/R/F1: non-borderline dev pairs; +b: borderline pairs counted too; art/s: fingerprint + group.")
    sizes = defaultdict(int)
    for story in batch.values():
        sizes[story] += 1
    print(f"ours, batch: {len(sizes)} stories, largest {max(sizes.values())} articles.")
    result = score(online, pairs)  # the JSON line reports what the bot uses: the online index with merges
    baseline_f1 = max(score(shingle, pairs).f1, best_title[0], score(exact, pairs).f1)
    print(
        json.dumps(
            {
                "precision": round(result.precision, 4),
                "recall": round(result.recall, 4),
                "f1": round(result.f1, 4),
                "baseline_f1": round(baseline_f1, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
