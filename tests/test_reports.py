"""The therapist report (issue 19): consent by both (one yes is not enough; either
withdraws and access ends at once), the content rules (canaries from the safety lane,
private answers and answers before the reveal never appear in the PDF or on the link's
page; typed words only where both ticked them), expiry with an injected clock across
time zones, revocation, the visit log, authorization, export and erasure."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from checkins import history
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.models import OutboxMessage
from notifications.rendering import render
from privacy.erase import erase_account
from reports import content, service
from reports.html import report_html
from reports.pdf import report_pdf
from reports.service import LinkNotValid, ShareInput
from tests import privacy_scenario as scenario
from tests.canary import export_text
from tests.factories import make_couple

TOPIC_CANARY = "topic-typed-by-a-5e1d"
EVERY_SECTION = [c.key for c in content.BUILT_IN_SECTIONS]
EVERYTHING = sorted(content.known_keys())


def pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(io.BytesIO(data))
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def _choice(contents: list[str], now: dt.datetime, days: int = 30) -> ShareInput:
    return ShareInput(
        contents, "Dr. Rivera", "rivera@example.org", now.date() + dt.timedelta(days=days)
    )


def _link_token(tx, share_id: int) -> str:  # type: ignore[no-untyped-def]
    with tx() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.kind == "report_shared",
                OutboxMessage.dedupe_key.like(f"report_shared:{share_id}:%"),
            )
            .order_by(OutboxMessage.id.desc())
        ).all()
        assert rows, "no mail to the therapist"
        return str(rows[0].secret)


@pytest.fixture
def built(tend_env, tx, now):  # type: ignore[no-untyped-def]
    world = scenario.build(tx, now)
    with tx() as s:
        history.add_topic(s, world.a_id, TOPIC_CANARY, now=now)
    return world


def _shared(tx, world, now, contents=EVERYTHING):  # type: ignore[no-untyped-def]
    with tx() as s:
        share = service.propose_share(s, world.a_id, _choice(contents, now), now=now)
    with tx() as s:
        service.accept_share(s, world.b_id, share.id, now=now)
    return share.id, _link_token(tx, share.id)


def test_one_yes_is_not_enough(built, tx, now) -> None:
    with tx() as s:
        share = service.propose_share(s, built.a_id, _choice(EVERY_SECTION, now), now=now)
    with tx() as s:
        with pytest.raises(NotAllowed):
            service.report_for_partner(s, built.a_id, now=now)
        with pytest.raises(NotAllowed):
            service.report_for_partner(s, built.b_id, now=now)
        with pytest.raises(NotAllowed, match="needs your partner's answer"):
            service.accept_share(s, built.a_id, share.id, now=now)
        # No link exists before both said yes: nothing went to the therapist.
        assert not s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "report_shared")
        ).all()
        asked = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "report_proposed")
        ).one()
        assert asked.recipient_user_id == built.b_id
        with pytest.raises(NotAllowed, match="already proposed"):
            service.propose_share(s, built.b_id, _choice(EVERY_SECTION, now), now=now)
    with tx() as s:
        view = service.accept_share(s, built.b_id, share.id, now=now)
        assert view.state == "active" and view.link == "live"
    token = _link_token(tx, share.id)
    with tx() as s:
        report, _ = service.report_for_link(s, token, now=now)
        assert report.sections
        assert service.report_for_partner(s, built.a_id, now=now).sections


def test_a_counter_proposal_needs_the_first_partners_yes(built, tx, now) -> None:
    with tx() as s:
        share = service.propose_share(s, built.a_id, _choice(EVERYTHING, now), now=now)
    with tx() as s:
        counter = service.counter_propose(
            s, built.b_id, share.id, _choice([content.SCORES], now), now=now
        )
    with tx() as s:
        with pytest.raises(NotAllowed):
            service.accept_share(s, built.b_id, counter.id, now=now)
        with pytest.raises(NotAllowed):  # the replaced proposal cannot be accepted any more
            service.accept_share(s, built.b_id, share.id, now=now)
        view = service.accept_share(s, built.a_id, counter.id, now=now)
        assert view.contents == [content.SCORES]


def test_either_partner_withdraws_and_access_ends_at_once(built, tx, now) -> None:
    for who in ("a_id", "b_id"):
        share_id, token = _shared(tx, built, now)
        with tx() as s:
            service.report_for_link(s, token, now=now)
        with tx() as s:
            service.withdraw(s, getattr(built, who), share_id, now=now)
        with tx() as s:
            with pytest.raises(LinkNotValid):
                service.report_for_link(s, token, now=now)
            with pytest.raises(NotAllowed):
                service.report_for_partner(s, built.a_id, now=now)
            assert service.current_share(s, built.b_id, now=now).state == "withdrawn"


def test_safety_private_and_unrevealed_answers_never_appear(built, tx, now) -> None:
    _share_id, token = _shared(tx, built, now)
    with tx() as s:
        pdf = pdf_text(report_pdf(service.report_for_partner(s, built.a_id, now=now)))
        report, _view = service.report_for_link(s, token, now=now)
        page = report_html(report, expires_on="x")
    for text in (pdf, page):
        for canary in scenario.NEVER_FOR_B:
            assert canary not in text
        # Ticked by both: the revealed "what went well" and the topic's typed name.
        assert scenario.A_REVEALED in text
        assert TOPIC_CANARY in text
        assert "Satisfaction and certainty over time" in text
    # The cooldown note B wrote is private too, even to the report of B's own couple.
    assert scenario.B_OWN_NOTE not in pdf + page


def test_typed_words_only_where_both_ticked_them(built, tx, now) -> None:
    _shared(tx, built, now, contents=EVERY_SECTION)
    with tx() as s:
        report = service.report_for_partner(s, built.b_id, now=now)
        pdf = pdf_text(report_pdf(report))
        page = report_html(report, expires_on="x")
    for text in (pdf, page):
        assert scenario.A_REVEALED not in text
        assert TOPIC_CANARY not in text
        assert "Topic 1" in text
        for canary in scenario.NEVER_FOR_B:
            assert canary not in text


def test_typed_text_is_escaped_on_the_links_page(built, tx, now) -> None:
    with tx() as s:
        history.add_topic(s, built.a_id, "<img src=https://evil.example/x>", now=now)
    _share_id, token = _shared(tx, built, now)
    with tx() as s:
        report, _ = service.report_for_link(s, token, now=now)
    page = report_html(report, expires_on="x")
    assert "<img src=https://evil.example" not in page
    assert "&lt;img src=https://evil.example/x&gt;" in page


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles", "Europe/Berlin"])
def test_the_link_expires_when_its_last_day_ends_in_the_proposers_zone(
    tend_env, tx, zone: str
) -> None:
    # Proposed the evening before a DST change in each zone's calendar year.
    now = dt.datetime(2026, 3, 7, 18, 0, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    with tx() as s:
        _couple, a, b = make_couple(s, timezones=(zone, "UTC"), now=now)
        a_id, b_id = a.id, b.id
    last_day = dt.date(2026, 4, 10)
    with tx() as s:
        share = service.propose_share(
            s, a_id, ShareInput([content.SCORES], "Dr. R", "r@example.org", last_day), now=now
        )
        service.accept_share(s, b_id, share.id, now=now)
    token = _link_token(tx, share.id)
    end = dt.datetime(2026, 4, 11, 0, 0, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    with tx() as s:
        service.report_for_link(s, token, now=end - dt.timedelta(minutes=1))
        with pytest.raises(LinkNotValid, match="expired"):
            service.report_for_link(s, token, now=end)
        assert service.current_share(s, a_id, now=end).link == "expired"


def test_the_last_day_is_after_today_and_at_most_90_days_away(tend_env, tx, now) -> None:
    with tx() as s:
        _couple, a, _b = make_couple(s, now=now)
        for days, problem in ((0, "after today"), (91, "at most 90")):
            with pytest.raises(InvalidInput) as caught:
                service.propose_share(s, a.id, _choice(EVERY_SECTION, now, days), now=now)
            assert problem in caught.value.fields["expires_on"]
        with pytest.raises(InvalidInput) as caught:
            service.propose_share(
                s, a.id, ShareInput([content.WENT_WELL], "", "not an address", None), now=now
            )
        assert set(caught.value.fields) == {
            "contents",
            "therapist_name",
            "therapist_email",
            "expires_on",
        }
        assert service.propose_share(s, a.id, _choice(EVERY_SECTION, now, 90), now=now)


def test_a_proposal_whose_last_day_passed_cannot_be_accepted(built, tx, now) -> None:
    with tx() as s:
        share = service.propose_share(s, built.a_id, _choice(EVERY_SECTION, now, 2), now=now)
    with tx() as s, pytest.raises(NotAllowed, match="passed"):
        service.accept_share(s, built.b_id, share.id, now=now + dt.timedelta(days=3))


def test_revocation_and_a_new_link(built, tx, now) -> None:
    share_id, token = _shared(tx, built, now)
    with tx() as s:
        service.revoke_link(s, built.b_id, share_id, now=now)
    with tx() as s:
        with pytest.raises(LinkNotValid):
            service.report_for_link(s, token, now=now)
        assert service.current_share(s, built.a_id, now=now).link == "revoked"
        # Consent stays: the partners still download the PDF.
        assert service.report_for_partner(s, built.a_id, now=now).sections
    later = now + dt.timedelta(minutes=5)
    with tx() as s:
        service.send_new_link(s, built.a_id, share_id, now=later)
    new_token = _link_token(tx, share_id)
    assert new_token != token
    with tx() as s:
        service.report_for_link(s, new_token, now=later)
        with pytest.raises(LinkNotValid):
            service.report_for_link(s, token, now=later)


def test_every_visit_is_logged_where_both_partners_see_it(built, tx, now) -> None:
    _share_id, token = _shared(tx, built, now)
    visits = [now + dt.timedelta(hours=h) for h in (1, 30)]
    for at in visits:
        with tx() as s:
            service.report_for_link(s, token, now=at)
    with tx() as s, pytest.raises(LinkNotValid):
        service.report_for_link(s, token + "x", now=now)
    with tx() as s:
        for user_id in (built.a_id, built.b_id):
            assert service.current_share(s, user_id, now=now).visits == visits[::-1]
    assert "report_visits" in export_text(built.a_id)


def test_another_couples_share_is_not_found(built, tx, now) -> None:
    share_id, _token = _shared(tx, built, now)
    with tx() as s:
        _c, stranger, _ = make_couple(s, "x@example.org", "y@example.org", now=now)
        for call in (service.withdraw, service.revoke_link, service.send_new_link):
            with pytest.raises(NotFound):
                call(s, stranger.id, share_id, now=now)
        assert service.current_share(s, stranger.id, now=now) is None


def test_the_therapists_mail_is_neutral_and_carries_the_link(built, tx, now) -> None:
    from infra.settings import get_settings

    _share_id, token = _shared(tx, built, now)
    with tx() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "report_shared")).one()
        email = render(row, get_settings())
    body = email.get_body(("plain",)).get_content()
    assert email["Subject"] == "A link shared with you"
    assert email["To"] == "rivera@example.org"
    assert f"/therapist/report?t={token}" in body
    for canary in (*scenario.NEVER_FOR_B, scenario.A_REVEALED, TOPIC_CANARY):
        assert canary not in body


def test_export_and_erasure(built, tx, now) -> None:
    _share_id, token = _shared(tx, built, now)
    text = export_text(built.b_id)
    assert "rivera@example.org" in text and "report_shares" in text
    assert token not in text
    with tx() as s:
        erase_account(s, built.a_id, now=now)
    with tx() as s:
        with pytest.raises(LinkNotValid):
            service.report_for_link(s, token, now=now)
        assert service.past_shares(s, built.b_id, now=now)[0].state == "withdrawn"
        assert service.past_shares(s, built.b_id, now=now)[0].therapist_email == ""


def test_a_partner_leaving_ends_the_link(built, tx, now) -> None:
    from couples import service as couples

    _share_id, token = _shared(tx, built, now)
    with tx() as s:
        couples.leave_couple(s, built.b_id, now=now)
    with tx() as s, pytest.raises(LinkNotValid):
        service.report_for_link(s, token, now=now)


def test_the_secret_is_cleared_from_the_outbox_once_sent_and_only_the_hash_is_kept(
    built, tx, now
) -> None:
    from infra.tokens import token_hash
    from reports.models import ReportShare

    share_id, token = _shared(tx, built, now)
    with tx() as s:
        share = s.get(ReportShare, share_id)
        assert share.link_hash == token_hash(token)
        assert token not in repr(s.execute(select(ReportShare.__table__)).all())
