"""Agreement, cooldown and therapy pages. Thin: read widgets, call a service, draw."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st

from agreements import cooldown_returns, cooldowns, proposals, reading, templates, therapy
from agreements import views as agreement_views
from agreements.templates import CADENCES, TEMPLATES, THERAPY_FREQUENCIES, WEEKDAYS
from agreements.views import DEFAULT_COOLDOWN_EXTENSIONS, MAX_COOLDOWN_EXTENSIONS
from couples import service as couples
from infra.errors import TendError
from tend import web

TIMEZONES = sorted(available_timezones())
FORM_LABELS = {
    "title": "Title",
    "body": "What we each commit to",
    "kind": "Template",
    "cadence": "How often",
    "weekday": "Day of the week",
    "day_of_month": "Day of the month",
    "local_time": "Time",
    "timezone": "Time zone",
    "minutes": "Minutes",
    "extensions": "Times a cooldown may be extended",
    "during": "What we each do meanwhile",
    "therapist": "Therapist or practice",
    "frequency": "How often",
    "reason": "Reason",
    "note": "Note",
}
ACTIONS = {
    "proposed": "proposed version {n}",
    "accepted": "accepted version {n}: it is in force",
    "declined": "declined version {n}",
    "countered": "answered with changes: version {n}",
    "change_proposed": "proposed a change: version {n}",
    "revised": "revised their proposal: version {n}",
    "withdrawn": "withdrew version {n}",
    "retire_requested": "asked to retire the agreement",
    "retired": "agreed to retire it: the agreement ended",
    "retire_declined": "chose to keep the agreement",
    "retire_withdrawn": "withdrew the request to retire",
    "flagged": "flagged it for review at the next check-in",
    "unflagged": "cleared the review flag",
}
STATUS = {
    "proposed": "Proposed",
    "active": "In force",
    "declined": "Declined",
    "retired": "Retired",
    "withdrawn": "Withdrawn",
}


def _local(moment: dt.datetime, timezone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(timezone)):%d %b %Y, %H:%M}"


def _has_couple(user_id: int) -> bool:
    with web.action() as session:
        if couples.couple_of(session, user_id) is not None:
            return True
    st.info("Agreements live in your couple space. Create it and invite your partner first.")
    st.page_link(web.page("couple"), label="Open your couple space", icon="➡️")
    return False


# --- agreement list ----------------------------------------------------------------------


def agreements_page() -> None:
    user = web.current_user()
    st.title("Agreements")
    if not _has_couple(user.id):
        return
    with web.action() as session:
        views = reading.list_agreements(session, user.id)
        read_only = couples.partner_has_left(session, user.id)
    if read_only:
        web.read_only_note()
    waiting = [v for v in views if v.awaiting_me and not read_only]
    if waiting:
        st.subheader(f"Awaiting your answer ({len(waiting)})")
        for view in waiting:
            _list_item(view, user.timezone)
    active = [v for v in views if v.status == "active" and not v.awaiting_me]
    st.subheader("In force")
    if not active:
        st.markdown(
            "Nothing was in force."
            if read_only
            else "Nothing in force yet. Propose one below (a regular check-in is a good "
            "first one); it counts once you both said yes to the same words."
        )
    for view in active:
        _list_item(view, user.timezone)
    theirs = [v for v in views if (v.awaiting_partner or v.awaiting_me) and v not in waiting]
    if theirs:
        st.subheader("Proposed, never answered" if read_only else "Awaiting your partner")
        for view in theirs:
            _list_item(view, user.timezone)
    if not read_only:
        _propose_section()
    closed = [v for v in views if v.status in ("retired", "declined", "withdrawn")]
    if closed:
        with st.expander(f"Retired and closed ({len(closed)})"):
            for view in closed:
                _list_item(view, user.timezone)


def _propose_section() -> None:
    st.subheader("Propose an agreement")
    cols = st.columns(2)
    for i, template in enumerate([*TEMPLATES.values(), None]):
        with cols[i % 2].container(border=True):
            if template is None:
                st.markdown("**Write your own**")
                st.caption("Your own words, from scratch.")
                key = templates.CUSTOM
            else:
                st.markdown(f"**{template.title}**")
                st.caption(template.summary)
                key = template.key
            st.page_link(
                web.page("propose_agreement"),
                label="Use this" if template else "Start writing",
                query_params={"template": key},
                icon=":material/edit_note:",
            )


def _list_item(view: agreement_views.AgreementView, timezone: str) -> None:
    with st.container(border=True):
        title = web.md(view.title)
        flag = " · :orange-badge[flagged for review]" if view.flagged_for_review else ""
        st.markdown(f"**{title}** · {STATUS.get(view.status, view.status)}{flag}")
        if view.awaiting_me and view.retire_requested_by and not view.retire_requested_by_me:
            st.caption(f"{web.md(view.retire_requested_by)} would like to retire it.")
        elif view.awaiting_me and view.pending:
            what = "a change" if view.in_force else "this agreement"
            st.caption(
                f"{web.md(view.pending.proposed_by)} proposed {what} on "
                f"{_local(view.pending.proposed_at, timezone)}."
            )
        elif view.awaiting_partner:
            st.caption("Waiting for your partner's answer.")
        st.page_link(
            web.page("agreement"),
            label="Open",
            query_params={"id": str(view.agreement_id)},
            icon=":material/arrow_forward:",
        )


# --- proposing ---------------------------------------------------------------------------


def propose_page() -> None:
    user = web.current_user()
    key = st.query_params.get("template", templates.CUSTOM)
    template = TEMPLATES.get(key)
    kind = template.key if template else templates.CUSTOM
    st.title(f"Propose: {template.title}" if template else "Propose your own agreement")
    if not _has_couple(user.id):
        return
    with web.reading() as session:
        read_only = couples.partner_has_left(session, user.id)
    if read_only:
        web.read_only_note()
        st.page_link(web.page("agreements"), label="Your agreements", icon="⬅️")
        return
    if template and template.note:
        st.info(template.note)
    defaults = dict(template.params) if template else {}
    if kind == "regular_checkin":
        defaults["timezone"] = user.timezone
    submitted, words = _words_form(
        f"propose_{kind}",
        kind,
        title=template.title if template else "",
        body=template.body if template else "",
        params=defaults,
        submit="Propose",
    )
    if submitted:
        try:
            with web.action() as session:
                agreement = proposals.propose_agreement(session, user.id, kind=kind, **words)
                agreement_id = agreement.id
        except TendError as exc:
            web.show_error(exc, FORM_LABELS)
        else:
            st.switch_page(web.page("agreement"), query_params={"id": str(agreement_id)})


def _words_form(
    form_key: str, kind: str, *, title: str, body: str, params: dict[str, Any], submit: str
) -> tuple[bool, dict[str, Any]]:
    """Title, body and the template's parameters; returns (submitted, words)."""
    with st.form(form_key):
        new_title = st.text_input(
            "Title", value=title, max_chars=agreement_views.MAX_TITLE, key=f"{form_key}_title"
        )
        new_body = st.text_area(
            "What we each commit to",
            value=body,
            max_chars=agreement_views.MAX_BODY,
            key=f"{form_key}_body",
            height=140,
        )
        new_params = _param_widgets(form_key, kind, params)
        submitted = st.form_submit_button(submit, type="primary")
    return submitted, {"title": new_title, "body": new_body, "params": new_params}


def _param_widgets(form_key: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    if kind == "regular_checkin":
        cadences = list(CADENCES)
        cadence = st.selectbox(
            "How often",
            cadences,
            index=cadences.index(params.get("cadence", "monthly")),
            format_func=lambda c: CADENCES[c].capitalize(),
            key=f"{form_key}_cadence",
        )
        cols = st.columns(2)
        weekday = cols[0].selectbox(
            "Day of the week (weekly, every two weeks)",
            range(7),
            index=int(params.get("weekday", 6)),
            format_func=lambda d: WEEKDAYS[d],
            key=f"{form_key}_weekday",
        )
        day = cols[1].number_input(
            "Day of the month (monthly)",
            min_value=1,
            max_value=28,
            value=int(params.get("day_of_month", 1)),
            key=f"{form_key}_dom",
        )
        hours, minutes = (int(x) for x in str(params.get("local_time", "19:00")).split(":"))
        at = st.time_input(
            "Time for the conversation", value=dt.time(hours, minutes), key=f"{form_key}_time"
        )
        tz = params.get("timezone", "UTC")
        timezone = st.selectbox(
            "Time zone",
            TIMEZONES,
            index=TIMEZONES.index(tz) if tz in TIMEZONES else TIMEZONES.index("UTC"),
            key=f"{form_key}_tz",
        )
        return {
            "cadence": cadence,
            "weekday": weekday,
            "day_of_month": int(day),
            "local_time": f"{at:%H:%M}",
            "timezone": timezone,
        }
    if kind == "cooldown":
        minutes = st.number_input(
            "Minutes",
            min_value=templates.COOLDOWN_MIN,
            max_value=templates.COOLDOWN_MAX,
            value=int(params.get("minutes", 5)),
            key=f"{form_key}_minutes",
            help="Five is common. The body often needs about 20 to calm down (Gottman).",
        )
        during = st.text_area(
            "What we each do meanwhile",
            value=str(params.get("during", "")),
            max_chars=500,
            key=f"{form_key}_during",
        )
        extensions = st.number_input(
            "Times a cooldown may be extended",
            min_value=0,
            max_value=MAX_COOLDOWN_EXTENSIONS,
            value=int(params.get("extensions", DEFAULT_COOLDOWN_EXTENSIONS)),
            key=f"{form_key}_extensions",
            help="Each extension adds the same length again. Once is common.",
        )
        return {"minutes": int(minutes), "during": during, "extensions": int(extensions)}
    if kind == "therapy":
        therapist = st.text_input(
            "Therapist or practice (optional)",
            value=str(params.get("therapist", "")),
            max_chars=200,
            key=f"{form_key}_therapist",
        )
        frequencies = list(THERAPY_FREQUENCIES)
        frequency = st.selectbox(
            "How often",
            frequencies,
            index=frequencies.index(params.get("frequency", "biweekly")),
            format_func=lambda f: THERAPY_FREQUENCIES[f].capitalize(),
            key=f"{form_key}_frequency",
        )
        return {"therapist": therapist, "frequency": frequency}
    return {
        name: st.text_input(
            name.replace("_", " ").capitalize(), value=str(value), key=f"{form_key}_{name}"
        )
        for name, value in params.items()
    }


# --- one agreement -------------------------------------------------------------------------


def agreement_page() -> None:
    user = web.current_user()
    agreement_id = web.query_id("id") or 0
    try:
        with web.action() as session:
            view = reading.get_agreement(session, user.id, agreement_id)
            all_versions = reading.versions(session, user.id, agreement_id)
            events = reading.history(session, user.id, agreement_id)
            read_only = couples.partner_has_left(session, user.id)
    except TendError:
        st.title("Agreement")
        st.warning("This agreement does not exist, or it is not in your couple space.")
        st.page_link(web.page("agreements"), label="All agreements", icon="⬅️")
        return
    st.page_link(web.page("agreements"), label="All agreements", icon="⬅️")
    st.title(web.md(view.title))
    st.caption(STATUS.get(view.status, view.status))
    web.show_flash()
    if read_only:
        web.read_only_note()

    if view.in_force:
        st.subheader("In force" if view.status == "active" else "Last words in force")
        _words(view.kind, view.in_force, user.timezone)
    if view.flagged_for_review and view.status == "active":
        st.warning(
            f"Flagged for review by {web.md(view.flagged_by or '')}: it comes up at your next "
            "check-in."
        )
        if not read_only and st.button("Clear the flag", key="unflag"):
            _act(lambda s: proposals.clear_review_flag(s, user.id, agreement_id), "Flag cleared.")

    managed = templates.registered_kind(view.kind)
    if managed is not None:
        # Written and answered on its own page (the charter); its versions and history
        # are shown here like any agreement's.
        if view.pending:
            _words(view.kind, view.pending, user.timezone)
        if not read_only:
            st.page_link(
                web.page(managed.page),
                label=f"Answer or change it on the {managed.title} page",
                icon=":material/arrow_forward:",
            )
    else:
        if view.pending:
            _pending_section(view, user.id, user.timezone, read_only=read_only)
        if view.retire_requested_by and not read_only:
            _retire_section(view, user.id)
        active = view.status == "active" and not view.pending and not view.retire_requested_by
        if active and not read_only:
            _active_actions(view, user.id)
    if view.status in ("declined", "withdrawn", "retired") and not view.in_force:
        _words(view.kind, view.latest, user.timezone)

    st.subheader("Versions")
    previous = None
    for version in all_versions:
        label = f"Version {version.number} · {version.state.replace('_', ' ')}"
        with st.expander(label, expanded=False):
            _words(view.kind, version, user.timezone)
            if previous is not None:
                st.caption(f"Changes from version {previous}:")
                with web.action() as session:
                    diff = reading.diff_versions(
                        session, user.id, agreement_id, previous, version.number
                    )
                st.code("\n".join(diff) or "(no changes)", language="diff")
        previous = version.number
    st.subheader("History")
    for event in events:
        what = ACTIONS.get(event.action, event.action).format(n=event.version_number)
        line = f"{_local(event.at, user.timezone)} · **{web.md(event.actor)}** {what}"
        if event.note:
            line += f" — “{web.md(event.note)}”"
        st.markdown(line)


def _words(kind: str, version: agreement_views.VersionView, timezone: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{web.md(version.title)}**")
        st.markdown(web.md(version.body))
        for line in templates.describe_params(kind, version.params):
            st.markdown(f"- {web.md(line)}")
        caption = f"Proposed by {web.md(version.proposed_by)} on "
        caption += _local(version.proposed_at, timezone)
        if version.in_force_from:
            caption += f"; in force from {_local(version.in_force_from, timezone)}"
        if version.in_force_until:
            caption += f" until {_local(version.in_force_until, timezone)}"
        st.caption(caption)
        if version.decline_reason:
            st.caption(f"Reason given for declining: {web.md(version.decline_reason)}")


def _act(call, message: str) -> None:  # type: ignore[no-untyped-def]
    web.act(call, message, FORM_LABELS)


def _pending_section(
    view: agreement_views.AgreementView, user_id: int, timezone: str, *, read_only: bool
) -> None:
    pending = view.pending
    assert pending is not None
    agreement_id = view.agreement_id
    if read_only:
        st.subheader("Proposed, never answered")
        st.write(f"{web.md(pending.proposed_by)} proposed:")
    elif view.awaiting_me:
        st.subheader("Awaiting your answer")
        what = "proposes a change" if view.in_force else "proposed"
        st.write(f"{web.md(pending.proposed_by)} {what}:")
    else:
        st.subheader("Awaiting your partner")
        st.write("Your proposal waits for your partner's answer:")
    _words(view.kind, pending, timezone)
    if view.in_force:
        with web.action() as session:
            diff = reading.diff_versions(
                session, user_id, agreement_id, view.in_force.number, pending.number
            )
        st.caption("What would change:")
        st.code("\n".join(diff), language="diff")
    if read_only:
        return
    if view.awaiting_me:
        cols = st.columns(2)
        if cols[0].button("Accept", type="primary", key="accept"):
            _act(lambda s: proposals.accept(s, user_id, agreement_id), "Accepted: it is in force.")
        with cols[1].popover("Decline"):
            reason = st.text_area("Reason (optional)", key="decline_reason", max_chars=2000)
            if st.button("Decline", key="decline_confirm"):
                _act(
                    lambda s: proposals.decline(s, user_id, agreement_id, reason=reason),
                    "Declined.",
                )
        with st.expander("Suggest changes"):
            _change_form(view, pending, user_id, "counter", "Send counter-proposal")
    else:
        if st.button("Withdraw my proposal", key="withdraw"):
            _act(lambda s: proposals.withdraw(s, user_id, agreement_id), "Withdrawn.")
        with st.expander("Change my proposal"):
            _change_form(view, pending, user_id, "revise", "Send the new version")


def _change_form(
    view: agreement_views.AgreementView,
    basis: agreement_views.VersionView,
    user_id: int,
    form_key: str,
    submit: str,
) -> None:
    submitted, words = _words_form(
        f"{form_key}_{view.agreement_id}_{basis.number}",
        view.kind,
        title=basis.title,
        body=basis.body,
        params=basis.params,
        submit=submit,
    )
    if submitted:
        _act(
            lambda s: proposals.propose_change(s, user_id, view.agreement_id, **words),
            "Sent. It waits for your partner's answer; what is in force stays until then.",
        )


def _retire_section(view: agreement_views.AgreementView, user_id: int) -> None:
    agreement_id = view.agreement_id
    if view.retire_requested_by_me:
        st.info("You asked to retire this agreement. It stays in force until your partner agrees.")
        if st.button("Withdraw the request", key="retire_withdraw"):
            _act(lambda s: proposals.withdraw_retirement(s, user_id, agreement_id), "Withdrawn.")
        return
    st.subheader("Awaiting your answer")
    st.write(f"{web.md(view.retire_requested_by or '')} would like to retire this agreement.")
    cols = st.columns(2)
    if cols[0].button("Retire it", key="retire_yes"):
        _act(
            lambda s: proposals.answer_retirement(s, user_id, agreement_id, agree=True),
            "Retired. Its history stays here.",
        )
    if cols[1].button("Keep it", key="retire_no"):
        _act(
            lambda s: proposals.answer_retirement(s, user_id, agreement_id, agree=False),
            "It stays in force.",
        )


def _active_actions(view: agreement_views.AgreementView, user_id: int) -> None:
    agreement_id = view.agreement_id
    assert view.in_force is not None
    with st.expander("Propose a change"):
        st.caption("Your partner says yes or no; until then the current words stay in force.")
        _change_form(view, view.in_force, user_id, "change", "Propose the change")
    if not view.flagged_for_review:
        with st.expander("Flag for review"):
            note = st.text_input("Note (optional, your partner sees it)", key="flag_note")
            if st.button("Flag it for the next check-in", key="flag"):
                _act(
                    lambda s: proposals.flag_for_review(s, user_id, agreement_id, note=note),
                    "Flagged: it comes up at your next check-in.",
                )
    with st.expander("Retire this agreement"):
        reason = st.text_input("Reason (optional, your partner sees it)", key="retire_reason")
        if st.button("Ask to retire it", key="retire"):
            _act(
                lambda s: proposals.request_retirement(s, user_id, agreement_id, reason=reason),
                "Asked. It stays in force until your partner agrees.",
            )


# --- cooldown ------------------------------------------------------------------------------


def _countdown(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


CooldownState = tuple[Any, cooldowns.CooldownView | None] | None


def cooldown_state() -> CooldownState:
    """(the signed-in person, the cooldown running in their couple) when they have a
    couple space they can act in; None otherwise (no control at all). Read once per
    page run for the sidebar control and the phone shortcut (tend.navigation.run)."""
    user = st.session_state.get(web.USER_KEY)
    if user is None:
        return None
    with web.reading() as session:
        in_couple, running = cooldowns.cooldown_status(session, user.id)
    return (user, running) if in_couple else None


@st.fragment(run_every=dt.timedelta(seconds=2))
def cooldown_control(state: CooldownState) -> None:
    """Compact cooldown control for the sidebar of every page. It re-reads every few
    seconds, so a cooldown the partner started shows up without a reload: in a page's
    run it draws ``state`` (:func:`cooldown_state`, read once for it and the shortcut);
    in its own reruns, which get the same arguments again, it reads anew."""
    if web.fragment_rerun():
        state = cooldown_state()
    if state is None:
        return
    user, running = state
    if running is None:
        if st.button("I need a cooldown", key="cooldown_start", icon=":material/pause_circle:"):
            _cooldown_call(lambda s: cooldowns.start_cooldown(s, user.id))
        return
    who = "You" if running.started_by_me else web.md(running.started_by)
    back = running.planned_end_at.astimezone(ZoneInfo(user.timezone))
    with st.container(border=True, key="cooldown_running"):
        st.markdown(f"**Cooldown** · {who} asked for a pause")
        st.markdown(f"### {_countdown(running.seconds_left)}")
        st.caption(f"Back to each other at {back:%H:%M}")
        if running.during:
            st.caption(f"Meanwhile: {web.md(running.during)}")
        cols = st.columns(2)
        if cols[0].button("End now", key="cooldown_end"):
            _cooldown_call(lambda s: cooldowns.end_cooldown(s, user.id))
        if running.can_extend and cols[1].button("Extend", key="cooldown_extend"):
            _cooldown_call(lambda s: cooldowns.extend_cooldown(s, user.id))


def cooldown_shortcut(state: CooldownState) -> None:
    """The "I need a cooldown" button at the top of every page on a phone, one tap away as the Quick
    exit is: there the sidebar (and its control) is folded away behind the menu button.
    Drawn in a container that Tend's style shows only at phone width (tend.a11y), from
    ``state`` (:func:`cooldown_state`)."""
    from tend.a11y import PHONE_ONLY

    if state is None:
        return
    user, running = state
    with st.container(key=PHONE_ONLY + "-cooldown"):
        if running is None:
            if st.button(
                "I need a cooldown", key="cooldown_start_phone", icon=":material/pause_circle:"
            ):
                try:
                    with web.action() as session:
                        cooldowns.start_cooldown(session, user.id)
                except TendError as exc:
                    web.show_error(exc)
                else:
                    st.rerun()
            return
        back = running.planned_end_at.astimezone(ZoneInfo(user.timezone))
        st.page_link(
            web.page("cooldown"),
            label=f"Cooldown: back to each other at {back:%H:%M}",
            icon=":material/pause_circle:",
        )


def _cooldown_call(call) -> None:  # type: ignore[no-untyped-def]
    try:
        with web.action() as session:
            call(session)
    except TendError as exc:
        web.show_error(exc)
    else:
        st.rerun(scope="fragment")


def cooldown_page() -> None:
    user = web.current_user()
    st.title("Cooldown")
    if not _has_couple(user.id):
        return
    with web.action() as session:
        log = cooldowns.cooldown_log(session, user.id)
        mail_on = cooldowns.cooldown_mail_enabled(session, user.id)
        read_only = couples.partner_has_left(session, user.id)
    if read_only:
        web.read_only_note()
    else:
        _cooldown_mail_toggle(user.id, mail_on)
    _cooldown_log(user, log, read_only=read_only)


def _cooldown_mail_toggle(user_id: int, mail_on: bool) -> None:
    st.write(
        "When an argument heats up, either of you can ask for a pause from the side menu on "
        "any page. You both see the countdown and what you agreed to do meanwhile."
    )
    wants_mail = st.toggle(
        "Email me when my partner starts or ends a cooldown",
        value=mail_on,
        help="Just the time to come back; nothing else.",
    )
    if wants_mail != mail_on:
        with web.action() as session:
            cooldowns.set_cooldown_mail(session, user_id, wants_mail)
        st.rerun()


def _cooldown_log(user: Any, log: list[cooldowns.CooldownLogEntry], *, read_only: bool) -> None:
    st.subheader("Log")
    if not log and read_only:
        st.markdown("No cooldowns were taken.")
    elif not log:
        st.caption(
            "No cooldowns yet. When an argument heats up, either of you presses "
            "**I need a cooldown** in the side menu; each pause is logged here."
        )
    for entry in log:
        who = "you" if entry.started_by_me else web.md(entry.started_by)
        line = f"{_local(entry.started_at, user.timezone)} · started by {who}"
        if entry.ended_at is None:
            line += " · running"
        else:
            minutes = round((entry.ended_at - entry.started_at).total_seconds() / 60)
            line += f" · {minutes} min"
            line += " (ended early)" if entry.ended_early else ""
        line += " · extended" if entry.extended else ""
        if entry.returned:
            line += f" · {cooldown_returns.OUTCOMES[entry.returned].lower()}"
        with st.expander(line):
            if entry.ended_at is not None:
                _cooldown_return(user.id, entry)
            note = st.text_area(
                "Private note (only you ever see this)",
                value=entry.my_note or "",
                key=f"cooldown_note_{entry.cooldown_id}",
                max_chars=agreement_views.MAX_NOTE,
            )
            if st.button("Save note", key=f"cooldown_note_save_{entry.cooldown_id}"):
                try:
                    with web.action() as session:
                        cooldowns.save_cooldown_note(session, user.id, entry.cooldown_id, note)
                except TendError as exc:
                    web.show_error(exc, FORM_LABELS)
                else:
                    st.success("Saved.")


def _cooldown_return(user_id: int, entry: cooldowns.CooldownLogEntry) -> None:
    """How we came back to the conversation afterwards (either of us records it)."""
    choices = [None, *cooldown_returns.OUTCOMES]
    outcome = st.radio(
        "How did you come back to it afterwards?",
        choices,
        index=choices.index(entry.returned),
        format_func=lambda o: "Not recorded" if o is None else cooldown_returns.OUTCOMES[o],
        key=f"cooldown_return_{entry.cooldown_id}",
        horizontal=True,
    )
    if outcome is not None and outcome != entry.returned:
        try:
            with web.action() as session:
                cooldown_returns.record_return(session, user_id, entry.cooldown_id, outcome)
        except TendError as exc:
            web.show_error(exc, FORM_LABELS)
        else:
            st.rerun()


# --- therapy -------------------------------------------------------------------------------


def therapy_page() -> None:
    user = web.current_user()
    st.title("Therapy plan")
    if not _has_couple(user.id):
        return
    with web.action() as session:
        plans = therapy.therapy_plans(session, user.id)
        read_only = couples.partner_has_left(session, user.id)
    if read_only:
        web.read_only_note()
    elif not plans:
        st.info("Once you both accept a couples therapy agreement, you can keep its log here.")
        st.page_link(
            web.page("propose_agreement"),
            label="Propose couples therapy",
            query_params={"template": "therapy"},
            icon=":material/edit_note:",
        )
        return
    for plan in plans:
        _therapy_plan(plan, user, read_only=read_only)


def _therapy_plan(plan: therapy.TherapyPlan, user: Any, *, read_only: bool) -> None:
    for line in templates.describe_params("therapy", plan.version.params):
        st.markdown(f"- {web.md(line)}")
    appt = plan.next_appointment
    if not read_only:
        st.subheader("Next appointment")
    if appt and not read_only:
        where = f" · {web.md(appt.location)}" if appt.location else ""
        st.markdown(
            f"**{appt.local_start:%A %d %B %Y, %H:%M}** ({appt.timezone}), "
            f"{appt.duration_minutes} min{where}"
        )
        with web.action() as session:
            ics = therapy.appointment_ics(session, user.id, appt.appointment_id)
        cols = st.columns(2)
        cols[0].download_button(
            "Add to calendar (.ics)",
            ics,
            file_name="therapy-appointment.ics",
            mime="text/calendar",
            key=f"ics_{appt.appointment_id}",
        )
        if cols[1].button("Cancel appointment", key=f"cancel_{appt.appointment_id}"):
            with web.action() as session:
                therapy.cancel_appointment(session, user.id, appt.appointment_id)
            st.rerun()
        st.caption("You both get a reminder by mail the day before.")
    if not read_only:
        _appointment_form(plan, user, has_appointment=appt is not None)
    st.subheader("Sessions")
    if not read_only:
        _log_session_form(plan)
    if not plan.sessions:
        st.markdown(
            "No sessions were logged."
            if read_only
            else "No sessions logged yet. After a session, log it above; you can then each "
            "say privately how useful it was."
        )
    for entry in plan.sessions:
        _session_row(entry, user.id, read_only=read_only)


def _appointment_form(plan: therapy.TherapyPlan, user: Any, *, has_appointment: bool) -> None:
    key = plan.agreement_id
    label = "Change the appointment" if has_appointment else "Set the next appointment"
    with st.expander(label):
        with st.form(f"appointment_{key}"):
            cols = st.columns(2)
            day = cols[0].date_input(
                "Date",
                value=web.local_today(user.timezone),
                key=f"appt_day_{key}",
                format="YYYY-MM-DD",
            )
            at = cols[1].time_input("Time", value=dt.time(18, 0), key=f"appt_time_{key}")
            duration = st.number_input(
                "Length (minutes)", min_value=10, max_value=300, value=60, key=f"appt_len_{key}"
            )
            location = st.text_input("Where (optional)", max_chars=300, key=f"appt_where_{key}")
            tz = st.selectbox(
                "Time zone",
                TIMEZONES,
                index=TIMEZONES.index(user.timezone) if user.timezone in TIMEZONES else 0,
                key=f"appt_tz_{key}",
            )
            saved = st.form_submit_button("Save appointment", type="primary")
        if saved:
            try:
                with web.action() as session:
                    therapy.set_next_appointment(
                        session,
                        user.id,
                        plan.agreement_id,
                        local_start=dt.datetime.combine(day, at),
                        timezone=tz,
                        duration_minutes=int(duration),
                        location=location,
                    )
            except TendError as exc:
                web.show_error(
                    exc, {"starts_at": "Date and time", "duration": "Length", "location": "Where"}
                )
            else:
                st.rerun()


def _log_session_form(plan: therapy.TherapyPlan) -> None:
    user = web.current_user()
    key = plan.agreement_id
    with st.expander("Log a session"):
        with st.form(f"log_session_{key}"):
            today = web.local_today(user.timezone)
            held_on = st.date_input(
                "Date", value=today, key=f"held_on_{key}", format="YYYY-MM-DD", max_value=today
            )
            attendance = st.radio(
                "Who went",
                list(therapy.ATTENDANCE),
                format_func=therapy.ATTENDANCE.get,
                key=f"attendance_{key}",
                horizontal=True,
            )
            logged = st.form_submit_button("Log session", type="primary")
        if logged:
            try:
                with web.action() as session:
                    therapy.log_therapy_session(
                        session, user.id, plan.agreement_id, held_on=held_on, attendance=attendance
                    )
            except TendError as exc:
                web.show_error(exc, {"held_on": "Date", "attendance": "Who went"})
            else:
                st.rerun()


def _session_row(
    entry: therapy.TherapySessionView, user_id: int, *, read_only: bool = False
) -> None:
    with st.container(border=True):
        st.markdown(
            f"**{entry.held_on:%d %B %Y}** · {therapy.ATTENDANCE[entry.attendance]}"
            f" · logged by {web.md(entry.logged_by)}"
        )
        if entry.attendance == "missed":
            return
        if entry.both_rated:
            assert entry.my_rating is not None and entry.partner_rating is not None
            st.markdown(
                f"Was it useful? You: {therapy.RATINGS[entry.my_rating]} · "
                f"{web.md(entry.partner_name)}: {therapy.RATINGS[entry.partner_rating]}"
            )
            return
        if read_only:
            return
        choices = list(therapy.RATINGS)
        rating = st.radio(
            "Was this session useful? (private until you have both answered)",
            choices,
            index=choices.index(entry.my_rating) if entry.my_rating else None,
            format_func=therapy.RATINGS.get,
            horizontal=True,
            key=f"rating_{entry.session_id}",
        )
        if rating is not None and rating != entry.my_rating:
            try:
                with web.action() as session:
                    therapy.rate_therapy_session(session, user_id, entry.session_id, rating)
            except TendError as exc:
                web.show_error(exc)
            else:
                st.rerun()
        if entry.my_rating is not None:
            st.caption("Waiting for your partner's answer; then you both see both.")
