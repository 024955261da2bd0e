"""What Tend adds to every page so that it can be used by keyboard, on a phone and by
anyone who needs more contrast than Streamlit's defaults give (docs/accessibility.md):

- a focus ring that shows on light and dark backgrounds alike;
- captions at 4.5:1 or more in both themes (Streamlit's grey caption is 3.9:1 on white);
- checkbox and radio labels, and the "Show password" button, at least 24 x 24 px;
- the Quick exit as the first stop in the tab order on every layout (it is moved to the
  start of the document, before Streamlit's sidebar);
- focus put somewhere sensible after an action re-draws the control that had it: the
  running cooldown after "I need a cooldown", the same control if it is drawn again,
  else the page's heading (after moving between pages too), never the page body;
- a control's name read as typed: Streamlit puts a label's Markdown source in its
  ``aria-label``, where the escapes that keep typed text literal (``tend.web.md``)
  would be read out ("Al backslash dash ex"); the script takes them out again.

Style and script only: the element takes no room (``st.html`` of a ``<style>`` alone is
not drawn; the script's container is hidden).
"""

from __future__ import annotations

import streamlit as st

from tend.press_guard import PRESS_GUARD_JS
from tend.web import MARKDOWN_SPECIALS

# The phone's "I need a cooldown" (agreements.pages.cooldown_shortcut) shows only where
# the sidebar folds away; on wider screens the sidebar's control is on screen.
PHONE_ONLY = "tend-phone-only"
PHONE_WIDTH = 768

CSS = f"""<style>
:focus-visible {{
  outline: 3px solid #1a4fb8 !important;
  outline-offset: 2px !important;
  box-shadow: 0 0 0 5px #ffffff !important;
}}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stCaptionContainer"] a, [data-testid="stCaptionContainer"] code {{
  color: inherit !important;
}}
[data-testid="stCaptionContainer"] {{ opacity: 0.85; }}
[data-testid="stCheckbox"] label, [data-testid="stRadio"] label,
[data-testid="stToggle"] label {{
  min-height: 24px;
  align-items: center;
}}
[data-testid="stTextInputRootElement"] button {{
  min-width: 24px;
  min-height: 24px;
}}
@media (min-width: {PHONE_WIDTH}px) {{
  [class*="st-key-{PHONE_ONLY}"] {{ display: none; }}
}}
.st-key-tend-a11y {{ display: none; }}
</style>"""

FOCUS_JS = """
<script>
(function () {
  if (window.__tendFocus) return;
  window.__tendFocus = true;
  var lost = null;
  function keyOf(el) {
    var holder = el && el.closest ? el.closest('[class*="st-key-"]') : null;
    if (!holder) return null;
    for (var i = 0; i < holder.classList.length; i++) {
      if (holder.classList[i].indexOf("st-key-") === 0) return holder.classList[i];
    }
    return null;
  }
  function focusable(el) {
    if (!el) return null;
    if (!/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "-1");
    }
    return el;
  }
  document.addEventListener("focusout", function (event) {
    var el = event.target;
    lost = {el: el, at: Date.now(), key: keyOf(el),
            nav: !!(el.closest && el.closest('[data-testid="stSidebarNav"]'))};
  }, true);
  document.addEventListener("focusin", function () { lost = null; }, true);
  // A page picked in the menu: the menu stays drawn (the link keeps focus), so once the
  // new page's heading is there, focus moves to it, as after a full page load.
  var moved = null;
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('[data-testid="stSidebarNav"] a');
    if (!link) return;
    var h1 = document.querySelector('[data-testid="stMain"] h1');
    moved = {link: link, at: Date.now(), path: location.pathname,
             h1: h1, text: h1 ? h1.innerText : null};
  }, true);
  setInterval(function () {
    if (!moved) return;
    if (Date.now() - moved.at > 8000) { moved = null; return; }
    var active = document.activeElement;
    if (active && active !== document.body && active !== moved.link) { moved = null; return; }
    if (location.pathname === moved.path) return;
    var h1 = document.querySelector('[data-testid="stMain"] h1');
    if (!h1 || (h1 === moved.h1 && h1.innerText === moved.text)) return;
    focusable(h1).focus();
    moved = null;
  }, 150);
  setInterval(function () {
    if (!lost) return;
    if (Date.now() - lost.at > 8000) { lost = null; return; }
    if (document.activeElement && document.activeElement !== document.body) return;
    if (lost.el.isConnected && !lost.nav) { lost = null; return; }
    var target = null;
    if (lost.key && lost.key.indexOf("cooldown_start") >= 0) {
      target = document.querySelector(".st-key-cooldown_running");
    }
    if (!target && lost.key && !lost.nav) {
      target = document.querySelector("." + lost.key + " button, ." + lost.key + " input");
    }
    if (!target) target = document.querySelector('[data-testid="stMain"] h1');
    if (target) { focusable(target).focus(); lost = null; }
  }, 150);
})();
</script>"""


# Each of md()'s escapes ("\\" + one of MARKDOWN_SPECIALS), as a JavaScript regex.
_ESCAPED = "\\\\([" + "".join("\\" + ch for ch in MARKDOWN_SPECIALS) + "])"

# Only the mutations' own nodes are looked at, and a label is changed once: React sets
# it again only when the label itself changes, and then it is unescaped again.
ARIA_JS = (
    """
<script>
(function () {
  if (window.__tendAria) return;
  window.__tendAria = true;
  var escaped = new RegExp("ESCAPED", "g");
  function plain(el) {
    var label = el.getAttribute("aria-label");
    if (label === null || label === el.__tendPlainLabel || label.indexOf("\\\\") < 0) return;
    var read = label.replace(escaped, "$1");
    el.__tendPlainLabel = read;
    if (read !== label) el.setAttribute("aria-label", read);
  }
  document.querySelectorAll("[aria-label]").forEach(plain);
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "attributes") { plain(record.target); return; }
      record.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) return;
        plain(node);
        node.querySelectorAll("[aria-label]").forEach(plain);
      });
    });
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ["aria-label"]});
})();
</script>"""
).replace("ESCAPED", _ESCAPED.replace("\\", "\\\\").replace('"', '\\"'))

# With the press guard's script (tend/press_guard.py): two elements in all, drawn on
# every run of every page, where each element is a message of its own.
SCRIPTS = FOCUS_JS + PRESS_GUARD_JS + ARIA_JS


def page_aids() -> None:
    """Install the style, the focus script and the press guard (every run; each script
    acts once)."""
    st.html(CSS)
    with st.container(key="tend-a11y"):
        st.html(SCRIPTS, unsafe_allow_javascript=True)
