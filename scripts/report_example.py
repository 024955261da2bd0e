"""Make docs/therapist-report-example.pdf from the demo couple:
`python scripts/report_example.py` (or --out PATH), and
the pictures of two of its pages in docs/screenshots/.

Builds the demo (`tend demo`, with a fixed clock so the example stays the same) in a
temporary SQLite database; Alex proposes a report holding everything, Sam says yes, and
the report both consented to is written as a PDF, the same one either partner downloads
from the report page. tests/test_report_example.py renders its pages to PNG and checks them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "therapist-report-example.pdf"
# Pages shown in docs/therapist-report.md, as PNG.
PICTURES = {
    1: ROOT / "docs" / "screenshots" / "report-page-1.png",
    3: ROOT / "docs" / "screenshots" / "report-page-3.png",
}
# The demo's "today": fixed, so running the script again changes nothing unless the
# report itself changed.
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def example_pdf(now: dt.datetime = NOW) -> bytes:
    """The demo couple's report, everything chosen, in the database TEND_DATABASE_URL."""
    from couples.accounts import user_by_email
    from infra.db import transaction
    from infra.settings import get_settings
    from reports import content, service
    from reports.pdf import report_pdf
    from tend.demo import DEMO_PARTNERS, create_demo
    from tend.migrate import upgrade

    upgrade(get_settings().database_url)
    create_demo(now)
    with transaction() as session:
        alex = user_by_email(session, DEMO_PARTNERS[0][0])
        sam = user_by_email(session, DEMO_PARTNERS[1][0])
        assert alex is not None and sam is not None
        alex_id, sam_id = alex.id, sam.id
        existing = service.current_share(session, alex_id, now=now)
        if existing is None or existing.state != "active":
            choice = service.ShareInput(
                sorted(content.known_keys()),
                "Dr. Morgan Reyes",
                "therapist@example.org",
                (now + dt.timedelta(days=60)).date(),
            )
            share = service.propose_share(session, alex_id, choice, now=now)
            service.accept_share(session, sam_id, share.id, now=now)
    with transaction() as session:
        return report_pdf(service.report_for_partner(session, alex_id, now=now))


def page_pngs(data: bytes, scale: float = 1.5) -> list[bytes]:
    """Every page of a PDF rendered to PNG (pypdfium2)."""
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    out = []
    for index in range(len(document)):
        buffer = io.BytesIO()
        document[index].render(scale=scale).to_pil().save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEND_DATABASE_URL"] = f"sqlite:///{tmp}/example.sqlite3"
        os.environ["TEND_MAIL_DIR"] = f"{tmp}/mail"
        sys.path.insert(0, str(ROOT))
        from infra.settings import get_settings

        get_settings.cache_clear()
        data = example_pdf()
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    if args.out == OUT:
        pngs = page_pngs(data, scale=1.0)
        for number, path in PICTURES.items():
            path.write_bytes(pngs[number - 1])
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
