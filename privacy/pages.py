"""Safety pages and components: the quick exit, the support panel, help and "when to get
help", and the data-and-safety sections of the account page."""

from __future__ import annotations

import html
import json

import streamlit as st

from infra.errors import TendError
from infra.settings import get_settings
from privacy import erase, pause
from tend import web

QUICK_EXIT_ID = "tend-quick-exit"
SIDEBAR_EXIT_ID = "tend-quick-exit-sidebar"

_QUICK_EXIT_CSS = f"""
<style>
#{QUICK_EXIT_ID} {{
  position: fixed; top: 0.6rem; right: 3.8rem; z-index: 1000010;
}}
#{QUICK_EXIT_ID}, #{SIDEBAR_EXIT_ID} {{
  display: inline-block; padding: 0.35rem 0.9rem; border-radius: 999px;
  font-weight: 600; font-size: 0.95rem; background: #2f4f4f;
  color: #fff !important; text-decoration: none !important;
  box-shadow: 0 1px 4px rgba(0,0,0,.25);
}}
#{QUICK_EXIT_ID}:hover, #{QUICK_EXIT_ID}:focus,
#{SIDEBAR_EXIT_ID}:hover, #{SIDEBAR_EXIT_ID}:focus {{
  background: #1b2f2f; outline: 3px solid #9cc;
}}
</style>"""


def quick_exit_html(url: str, element_id: str = QUICK_EXIT_ID) -> str:
    """A link that replaces the current history entry with ``url``, so Back from the
    neutral page does not come back to this page. ``url`` comes from the operator's
    settings, validated to be a plain http(s) address, and is escaped for both places
    it appears (an attribute and a script)."""
    return f"""
<a id="{element_id}" href="{html.escape(url, quote=True)}" rel="noreferrer"
   title="Leave Tend now for another site" aria-label="Quick exit: leave Tend now">Quick exit</a>
<script>
(function () {{
  var link = document.getElementById({json.dumps(element_id)});
  if (!link || link.dataset.armed) return;
  link.dataset.armed = "1";
  link.addEventListener("click", function (event) {{
    event.preventDefault();
    window.location.replace({json.dumps(url)});
  }});
}})();
</script>"""


def quick_exit() -> None:
    """Draw the quick-exit controls; app.py calls this on every run, before any page.

    Two controls: one fixed to the top of the window on every screen size (on phones the
    sidebar is folded away), and one in the sidebar, below the menu."""
    url = get_settings().quick_exit_url
    st.html(_QUICK_EXIT_CSS + quick_exit_html(url), unsafe_allow_javascript=True)
    st.sidebar.html(quick_exit_html(url, SIDEBAR_EXIT_ID), unsafe_allow_javascript=True)


def _link_target(url: str) -> str:
    # Markdown link targets end at ")": keep the validated URL whole.
    return url.replace("(", "%28").replace(")", "%29")


def show_support_panel(*, key: str = "support") -> None:
    """A calm panel with where to get help, shown only to the person it is for.

    Check-in pages call this when someone's own safety answer is concerning. It draws
    nothing that is stored, and sends nothing. ``key`` keeps widget keys unique when a
    page shows the panel more than once."""
    s = get_settings()
    with st.container(border=True):
        st.subheader("You deserve to be safe")
        st.write(
            "Thank you for answering honestly. What you wrote here stays with you: your "
            "partner does not see it, and Tend does not mention it to them or in any mail."
        )
        st.markdown(
            f"- **{web.md(s.support_hotline_name)}:** call {web.md(s.support_hotline_phone)}, "
            f"or {web.md(s.support_hotline_text)} "
            f"([website]({_link_target(s.support_hotline_url)}))\n"
            f"- **In an emergency:** call {web.md(s.emergency_number)}"
        )
        st.write(
            "Couples therapy is generally not recommended while there is abuse or fear in "
            "a relationship: working on it together can put the person at risk. Support "
            "for you on your own is: a hotline, a counsellor of your own, a doctor, or "
            "someone you trust."
        )
        st.write(
            "If you need a break from Tend, you can pause your reminders without your "
            "partner being told. The **Quick exit** button at the top leaves this page at once."
        )
        st.page_link(web.page("get_help"), label="When to get help", icon=":material/support:")
        user = st.session_state.get(web.USER_KEY)
        if user is not None:
            _pause_control(user.id, key=f"{key}_pause")


def _pause_control(user_id: int, *, key: str) -> None:
    with web.action() as session:
        paused = pause.is_paused(session, user_id)
    if paused:
        st.caption("Your reminders are paused. Your partner is not told.")
        if st.button("Resume my reminders", key=key):
            with web.action() as session:
                pause.resume_reminders(session, user_id)
            st.rerun()
    elif st.button("Pause my reminders quietly", key=key):
        with web.action() as session:
            pause.pause_reminders(session, user_id)
        st.rerun()


def data_and_safety_sections() -> None:
    """The account page's export, quiet pause and delete-account sections."""
    user = web.current_user()
    st.subheader("Your data")
    st.write(
        "Download everything you may take with you: your account, your couple space, what "
        "you wrote and the answers that were revealed to you both, as JSON and CSV files "
        "in one zip. Your partner's private and not-yet-revealed answers are never in it."
    )
    # Posted to Tend's own route, which builds the zip for the session this browser still
    # holds: no download link that outlives a sign-out (tend.routes.export_download).
    web.post_button(web.EXPORT_PATH, web.EXPORT, "Download my data")

    st.subheader("Pause reminders")
    st.write(
        "Stops all of your reminder mails and hides Tend's prompts for you. Your partner is "
        "not told and sees nothing different, beyond your not answering."
    )
    _pause_control(user.id, key="account_pause")

    st.subheader("Delete your account")
    with st.expander("Delete my account"):
        st.write(
            "This deletes your account, your answers and everything that identifies you, "
            "and signs you out everywhere. It cannot be undone; download your data first if "
            "you want to keep it. Your partner keeps the agreements you shared, with you "
            "shown as \u201cFormer partner\u201d, and is told only that you left."
        )
        with st.form("delete_account"):
            password = st.text_input(
                "Your password", type="password", key="delete_password", autocomplete="off"
            )
            sure = st.checkbox("I understand this cannot be undone", key="delete_sure")
            submitted = st.form_submit_button("Delete my account", type="primary")
        if submitted:
            if not sure:
                st.error("Tick the box to confirm.")
                return
            try:
                with web.action() as session:
                    erase.delete_account(session, user.id, password)
            except TendError as exc:
                web.show_error(exc, {"password": "Your password"})
            else:
                st.session_state.pop("delete_password", None)
                web.post_to("/auth/signed-out", web.SIGN_OUT)


def help_page() -> None:
    s = get_settings()
    st.title("Help and about Tend")
    st.markdown(
        """
Tend is a private space for two partners who got back together. It holds the
agreements you both consented to, a regular check-in that each of you answers on your
own, and gentle email reminders so that the plan does not quietly lapse.

### How the reveal works
Each check-in round, you and your partner answer separately. Your answers stay hidden
from your partner until **both** of you have answered; then you both see both sets side
by side, to talk about together. Until then, you can change your own answers.

### What is private
- **Private questions** (such as the safety check) are never shown to your partner:
  not on any page, not in reminders, not in their data export, not in Tend's logs.
- **Mails** carry names and links only, never what anyone wrote. Subjects are neutral,
  because an inbox may be seen by others.
- Your partner sees only your shared couple space. People in other couples see nothing
  of yours, and you nothing of theirs.
- **Pausing your reminders** is not shown or sent to your partner.

### Where your data lives
On the server of whoever runs this Tend (the operator), in its database. The operator
can read that database, as with any web service: choose an operator you trust, or run
Tend yourself. On your **Account** page you can download all of your data, pause your
reminders, or delete your account.

### Leaving quickly
The **Quick exit** button at the top of every page replaces Tend with another site at
once, and Back does not return to the page you were on. Tend pages you visited before it
may still be in the browser's history: on a shared device, use a private window.
"""
    )
    st.page_link(web.page("get_help"), label="When to get help", icon=":material/support:")
    st.caption(
        f"In an emergency call {web.md(s.emergency_number)}. "
        f"{web.md(s.support_hotline_name)}: {web.md(s.support_hotline_phone)}."
    )


DEALBREAKERS = """
- **Cheating** that continues, or keeps happening.
- **Big lies**: about money, other relationships, or things that matter to your life.
- **Constant put-downs**: being belittled, mocked or made to feel small, again and again.
- **Verbal or physical abuse**: threats, shouting you down, pushing, hitting, controlling
  where you go, who you see, your phone or your money.

If any of these is happening, it is not your fault, and it is not something a better
check-in will solve. **Couples therapy is generally not recommended while there is
abuse**: what one partner says in a joint session can put them at risk afterwards.
Support for you on your own is recommended: a counsellor of your own, a doctor, a
hotline, or someone you trust.
"""


def where_to_find_help() -> None:
    """The deployment's hotline and emergency number, and a therapist of one's own."""
    s = get_settings()
    st.markdown(
        f"- **{web.md(s.support_hotline_name)}:** call {web.md(s.support_hotline_phone)}, "
        f"or {web.md(s.support_hotline_text)}; more at [{web.md(s.support_hotline_url)}]"
        f"({_link_target(s.support_hotline_url)})\n"
        f"- **In an emergency:** call {web.md(s.emergency_number)}\n"
        "- A therapist or counsellor of your own: your doctor can refer you."
    )


def dealbreakers_section() -> None:
    """The dealbreakers in plain words and where to get help (When to get help, the
    charter page). Stores nothing and sends nothing."""
    st.markdown(DEALBREAKERS)
    st.markdown("**Where to find help**")
    where_to_find_help()


def get_help_page() -> None:
    st.title("When to get help")
    st.markdown(
        """
Getting back together can work when both people want it and work on what split them
up. Some things are not problems to be fixed with a check-in. Advice for couples who
reunite names them as **dealbreakers**, where the honest step is to talk to a therapist
or counsellor first, rather than to get back together, or to stay:
"""
        + DEALBREAKERS
    )
    st.subheader("Where to find help")
    where_to_find_help()
    st.write(
        "Nothing on this page is recorded, and your partner is not told that you read it. "
        "The **Quick exit** button at the top leaves at once."
    )
    st.page_link(web.page("help"), label="Help and about Tend", icon=":material/help:")
