"""The command line, run as a user runs it: `python bot.py ...` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.feedgen import IRAN_ONLY, WEATHER, Item, rss, seed_article
from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]


async def run_cli(*args: str, stdin: str = "", cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run bot.py with arguments; returns (exit code, stdout, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "FEEDS", "DATABASE_"))}
    base.update(PYTHONPATH=str(ROOT), **(env or {}))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        *args,
        cwd=cwd,
        env=base,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_run_without_token_exits_2_with_one_line(tmp_path: Path) -> None:
    code, _, err = await run_cli(cwd=tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in err and "Traceback" not in err
    code, _, err = await run_cli("poll", "--once", cwd=tmp_path, env={"POLL_INTERVAL_SECONDS": "x"})
    assert code == 2 and err.startswith("configuration error: POLL_INTERVAL_SECONDS")


async def test_summarize_and_match_jsonl(tmp_path: Path) -> None:
    title, body = seed_article()
    lines = [
        {"id": "seed", "title": title, "text": body},
        {"id": "iran", "title": IRAN_ONLY[0], "text": IRAN_ONLY[1]},
        {"id": "weather", "title": WEATHER[0], "text": WEATHER[1]},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\nnot json\n"
    code, out, err = await run_cli("summarize", "--jsonl", stdin=stdin, cwd=tmp_path)
    assert code == 0, err
    summaries = {row["id"]: row["summary"] for row in _lines(out)}
    assert set(summaries) == {"seed", "iran", "weather"}
    assert "line 4: not JSON" in err
    seed = summaries["seed"]
    assert 0 < len(seed.split()) <= 60 and "زر الذهاب" not in seed and "تابع" not in seed
    assert seed.count("وجهات نظر متقاربة") <= 1  # the lead is not repeated

    code, out, err = await run_cli("match", "--topic", "Iran–Russia", "--jsonl", stdin=stdin, cwd=tmp_path)
    assert code == 0, err
    assert {row["id"]: row["match"] for row in _lines(out)} == {"seed": True, "iran": False, "weather": False}
    code, out, err = await run_cli("match", "--topic", "إيران", "--jsonl", stdin=stdin, cwd=tmp_path)
    assert {row["id"]: row["match"] for row in _lines(out)} == {"seed": True, "iran": True, "weather": False}
    code, _, err = await run_cli("match", "--topic", "؟؟", "--jsonl", stdin=stdin, cwd=tmp_path)
    assert code == 2 and "--topic" in err


async def test_stories_jsonl_groups_copies(tmp_path: Path) -> None:
    title, body = seed_article()
    lines = [
        {"id": "a", "title": title, "text": body, "source": "x", "published": "2026-11-29T10:00:00+03:00"},
        {"id": "b", "title": title, "text": body, "source": "y", "published": "2026-11-29T11:00:00+03:00"},
        {"id": "c", "title": WEATHER[0], "text": WEATHER[1], "source": "x", "published": "2026-11-29T11:00:00"},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    code, out, err = await run_cli("stories", "--jsonl", stdin=stdin, cwd=tmp_path)
    assert code == 0, err
    stories = {row["id"]: row["story"] for row in _lines(out)}
    assert stories["a"] == stories["b"] != stories["c"]


async def test_poll_once_then_latest_and_feeds(tmp_path: Path) -> None:
    title, body = seed_article()
    async with FeedServer() as server:
        server.add("/good.xml", rss([Item("s1", title, body), Item("w1", *WEATHER)]))
        server.add("/page.html", "<html><body><p>not a feed</p></body></html>", headers={"Content-Type": "text/html"})
        env = {
            "FEEDS": f"Good|{server.url('/good.xml')}, {server.url('/page.html')}, {server.url('/missing.xml')}",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
        }
        code, out, err = await run_cli("poll", "--once", cwd=tmp_path, env=env)
        assert code == 0, err
        assert "Good" in out and "404" in out
        assert "3 feeds, 2 new articles, 2 errors" in out
        code, out, err = await run_cli("poll", "--once", cwd=tmp_path, env=env)
        assert "3 feeds, 0 new articles, 2 errors" in out
        code, out, err = await run_cli("latest", "--topic", "Iran–Russia", cwd=tmp_path, env=env)
        assert code == 0, err
        assert title in out and "Good" in out and WEATHER[0] not in out
        code, out, err = await run_cli("feeds", cwd=tmp_path, env=env)
        assert code == 0, err
        assert "new in 24h: 2" in out and "HTTP 404" in out
