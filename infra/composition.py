"""The one name the bottom knows of the top: the composition root, ``tend/registry.py``.

Registries below the domains (planners, prompt kinds, mail attachments, exporters,
erasers, partner-joined hooks, the accounts port) are filled by modules above them when
those are imported. Whichever process reads a registry (web, CLI, scheduler, a test)
calls :func:`load_registrations` first; it imports the composition root, which lists
every registering module, so a reader sees what is registered without following imports.
"""

from __future__ import annotations

import importlib

COMPOSITION_ROOT = "tend.registry"


def load_registrations() -> None:
    """Import every module that registers something (idempotent: imports are cached)."""
    importlib.import_module(COMPOSITION_ROOT)
