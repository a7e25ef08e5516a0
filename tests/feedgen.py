"""Build small RSS documents for tests (real XML, escaped, dated relative to now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed-article.txt"

SEED_FALLBACK = """بزشكيان: إيران وروسيا لديهما وجهات نظر متقاربة بشأن القضايا الإقليمية

أكد الرئيس الإيراني مسعود بزشكيان أهمية مواصلة عملية التفاعل الإقليمي البناء بين إيران وروسيا، وقال إن البلدين لديهما وجهات نظر متقاربة بشأن القضايا الإقليمية.

وخلال استقباله وزير الخارجية الروسي سيرغي لافروف، في طهران اليوم الثلاثاء، وصف الرئيس بزشكيان العلاقات بين البلدين بانها متنامية.

تابع ميدل ايست نيوز على التلغرام telegram

زر الذهاب إلى الأعلى"""


def seed_article() -> tuple[str, str]:
    """The canonical Iran–Russia article (title, body) from ../shared, or a short stand-in when it is absent."""
    raw = SEED.read_text(encoding="utf-8") if SEED.exists() else SEED_FALLBACK
    title, _, body = raw.strip().partition("\n")
    return title.strip(), body.strip()


IRAN_ONLY = (
    "إيران ترفع صادراتها من النفط الخام إلى مستوى قياسي",
    "أعلنت وزارة النفط الإيرانية أن صادرات إيران من النفط الخام ارتفعت الشهر الماضي إلى مستوى قياسي.\n\n"
    "وقال المتحدث باسم الوزارة في طهران إن الصادرات الإيرانية تجاوزت مليوني برميل يومياً.\n\n"
    "وأضاف أن الحكومة الإيرانية تسعى إلى زيادة الإنتاج خلال العام المقبل.",
)

WEATHER = (
    "أمطار رعدية متوقعة على مرتفعات جازان وعسير",
    "توقع المركز الوطني للأرصاد هطول أمطار رعدية على مرتفعات جازان وعسير والباحة.\n\n"
    "ودعا المركز إلى الحذر من السيول في الأودية والابتعاد عن مجاري المياه.",
)


@dataclass(frozen=True)
class Item:
    """One RSS item."""

    guid: str
    title: str
    text: str
    published: datetime | None = None
    link: str | None = None


def rss(items: list[Item], *, title: str = "أخبار الاختبار", base: str = "http://news.example") -> str:
    """An RSS 2.0 document with full content (content:encoded) and a short description per item."""
    now = datetime.now(UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>',
        f"<title>{escape(title)}</title><link>{base}/</link><description>test</description>",
    ]
    for item in items:
        published = item.published or now - timedelta(minutes=5)
        html = "".join(f"<p>{escape(p)}</p>" for p in item.text.split("\n\n") if p.strip())
        lead = " ".join(item.text.split()[:30])
        parts.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>{escape(item.link or f'{base}/{item.guid}')}</link>"
            f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(lead)}</description>"
            f"<content:encoded><![CDATA[{html}]]></content:encoded>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts)
