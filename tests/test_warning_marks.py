"""Through the services and a real database: the quiet warnings of a couple's own rounds,
"we talked about it" (stays away until worse, for both partners), its export and erasure;
coming back after a cooldown, and cooldowns extended as the agreement allows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agreements import cooldown_returns, cooldowns, proposals
from checkins import warnings
from checkins.models import WarningMark
from infra.errors import NotAllowed, NotFound
from privacy import erase, export
from tests.test_checkins_service import couple, full_round, sheet  # noqa: F401

WEEK = dt.timedelta(days=7)


def _low_rounds(tx, a, b, now, totals: list[int], start: int = 0) -> dt.datetime:  # type: ignore[no-untyped-def]
    at = now
    for i, total in enumerate(totals):
        at = now + (start + i) * WEEK
        full_round(tx, a, b, at, sheet(16), sheet(total))
    return at


def _quiet(ws: list) -> set[tuple[str, int | None]]:  # type: ignore[type-arg]
    return {(w.code, w.user_id) for w in ws if w.code == "staying_low"}


def test_talked_about_stays_away_for_both_until_it_gets_worse(tx, couple, now) -> None:  # noqa: F811
    _c, a, b, _ = couple
    at = _low_rounds(tx, a, b, now, [16, 16, 11, 10, 11, 10])
    later = at + dt.timedelta(days=1)
    with tx() as s:
        board = warnings.warning_board(s, a.id, now=later)
        [low] = [w for w in board.shown if w.code == "staying_low"]
        assert low.user_id == b.id and low.evidence and low.next_step
        assert any("11, 10, 11, 10" in line for line in low.evidence)
        warnings.mark_talked_about(s, b.id, low.key, now=later)
    with tx() as s:
        for viewer in (a, b):
            board = warnings.warning_board(s, viewer.id, now=later)
            assert not _quiet(board.shown) and _quiet(board.talked_about) == {("staying_low", b.id)}
    # Another round just as low: still away.
    at = _low_rounds(tx, a, b, now, [11], start=6)
    with tx() as s:
        assert not _quiet(warnings.early_warnings(s, a.id, now=at + dt.timedelta(days=1)))
    # Worse: it comes back, for both.
    at = _low_rounds(tx, a, b, now, [7, 7], start=7)
    with tx() as s:
        for viewer in (a, b):
            shown = warnings.early_warnings(s, viewer.id, now=at + dt.timedelta(days=1))
            assert _quiet(shown) == {("staying_low", b.id)}


def test_a_warning_that_no_longer_holds_cannot_be_marked(tx, couple, now) -> None:  # noqa: F811
    _c, a, b, _ = couple
    full_round(tx, a, b, now)
    with tx() as s, pytest.raises(NotFound):
        warnings.mark_talked_about(s, a.id, "staying_low:1:", now=now + WEEK)


def test_marks_are_exported_and_erasure_keeps_them_unnamed(tx, couple, now) -> None:  # noqa: F811
    _c, a, b, _ = couple
    at = _low_rounds(tx, a, b, now, [16, 16, 11, 10, 11, 10]) + dt.timedelta(days=1)
    with tx() as s:
        [low] = [w for w in warnings.early_warnings(s, a.id, now=at) if w.code == "staying_low"]
        warnings.mark_talked_about(s, a.id, low.key, now=at)
    with tx() as s:
        rows = export.export_data(s, b.id)["tables"]["checkins"]["warnings_talked_about"]
        assert [(r["warning"], r["marked_by"]) for r in rows] == [(low.key, a.display_name)]
    with tx() as s:
        erase.erase_account(s, a.id, now=at)
    with tx() as s:
        mark = s.scalar(select(WarningMark))
        assert mark is not None and mark.marked_by_id is None


def test_coming_back_after_a_cooldown_is_recorded_by_either_partner(tx, couple, now) -> None:  # noqa: F811
    _c, a, b, _ = couple
    with tx() as s:
        running = cooldowns.start_cooldown(s, a.id, now=now)
        with pytest.raises(NotAllowed):  # still running
            cooldown_returns.record_return(s, b.id, running.cooldown_id, "talked", now=now)
        with pytest.raises(Exception, match="Choose how it went"):
            cooldown_returns.record_return(
                s, b.id, running.cooldown_id, "sulked", now=now + dt.timedelta(hours=1)
            )
    later = now + dt.timedelta(hours=1)
    with tx() as s:
        cooldown_returns.record_return(s, b.id, running.cooldown_id, "not_yet", now=later)
    with tx() as s:
        cooldown_returns.record_return(
            s, a.id, running.cooldown_id, "talked", now=later + dt.timedelta(hours=2)
        )
    with tx() as s:
        [entry] = cooldowns.cooldown_log(s, b.id, now=later + dt.timedelta(hours=3))
        assert entry.returned == "talked"  # the latest record stands
        mine = export.export_data(s, b.id)["tables"]["agreements"]["my_cooldown_returns"]
        assert [r["outcome"] for r in mine] == ["Not yet"]
    with tx() as s:
        erase.erase_account(s, b.id, now=later + dt.timedelta(hours=4))
    with tx() as s:
        [entry] = cooldowns.cooldown_log(s, a.id, now=later + dt.timedelta(hours=5))
        assert entry.returned == "talked"


def test_a_cooldown_is_extended_as_often_as_agreed(tx, couple, now) -> None:  # noqa: F811
    _c, a, b, agreement_id = couple
    with tx() as s:  # the default agreement: once
        cooldowns.start_cooldown(s, a.id, now=now)
        assert cooldowns.extend_cooldown(s, b.id, now=now).can_extend is False
        with pytest.raises(NotAllowed, match="already extended once"):
            cooldowns.extend_cooldown(s, a.id, now=now)
        cooldowns.end_cooldown(s, a.id, now=now + dt.timedelta(minutes=1))
    with tx() as s:  # changed by both: ten minutes, up to twice
        proposals.propose_change(
            s,
            a.id,
            agreement_id,
            title="Longer cooldown",
            body="We both stop.",
            params={"minutes": 10, "extensions": 2},
            now=now,
        )
        proposals.accept(s, b.id, agreement_id, now=now)
    start = now + dt.timedelta(hours=1)
    with tx() as s:
        view = cooldowns.start_cooldown(s, a.id, now=start)
        view = cooldowns.extend_cooldown(s, a.id, now=start)
        assert view.can_extend
        view = cooldowns.extend_cooldown(s, b.id, now=start)
        assert not view.can_extend
        assert view.planned_end_at == start + dt.timedelta(minutes=30)
        with pytest.raises(NotAllowed, match="2 times"):
            cooldowns.extend_cooldown(s, a.id, now=start)


def test_an_agreement_on_extensions_is_validated(tx, couple, now) -> None:  # noqa: F811
    from agreements import templates

    clean, problems = templates.param_problems("cooldown", {"minutes": 5, "extensions": 9})
    assert "extensions" in problems
    clean, problems = templates.param_problems("cooldown", {"minutes": 5, "extensions": "2"})
    assert not problems and clean["extensions"] == 2
