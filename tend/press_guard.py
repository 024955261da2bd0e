"""A press is never silently lost when the page moves under a still pointer.

Streamlit takes a typed value when its field loses focus, and that happens on the
mouse-down of the next press. On a slow phone or a loaded machine the re-render that
follows can move the page (seen: 486 px) before the mouse-up, which then lands beside
the button: the browser sends the click to their common ancestor and the press is gone,
with nothing on the screen to say so. This script notices exactly that case (the pointer
did not move, the button did) and presses the button once. A press the person moved
away from on purpose, or one that landed, is left alone.

Installed on every page with the focus script (tend.a11y.page_aids)."""

from __future__ import annotations

PRESS_GUARD_JS = """
<script>
(function () {
  if (window.__tendPressGuard) return;
  window.__tendPressGuard = true;
  var press = null;
  document.addEventListener("pointerdown", function (event) {
    var button = event.button === 0 && event.target.closest
      ? event.target.closest("button") : null;
    press = button ? {
      button: button, x: event.clientX, y: event.clientY,
      box: button.getBoundingClientRect()
    } : null;
  }, true);
  document.addEventListener("pointerup", function (event) {
    var p = press;
    press = null;
    if (!p || !p.button.isConnected || p.button.disabled) return;
    if (p.button.contains(event.target)) return;  // it landed
    if (Math.abs(event.clientX - p.x) > 2 || Math.abs(event.clientY - p.y) > 2) return;
    var box = p.button.getBoundingClientRect();
    if (box.top === p.box.top && box.left === p.box.left) return;  // it did not move
    p.button.click();
  }, true);
})();
</script>"""
