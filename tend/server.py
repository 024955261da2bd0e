"""The ASGI app `streamlit run` serves: Streamlit's pages (app.py) plus Tend's routes,
every response with Tend's security headers."""

import gc
from pathlib import Path

import altair  # noqa: F401  (the charts' library, loaded before the freeze below)
import pyarrow  # noqa: F401
import streamlit as st
from starlette.middleware import Middleware

from tend.backend_address import BackendAddressMiddleware
from tend.device_cookie import DeviceCookieMiddleware
from tend.headers import SecurityHeadersMiddleware
from tend.routes import ROUTES

app = st.App(
    str(Path(__file__).resolve().parent.parent / "app.py"),
    routes=ROUTES,
    middleware=[
        Middleware(SecurityHeadersMiddleware),
        Middleware(DeviceCookieMiddleware),
        Middleware(BackendAddressMiddleware),
    ],
)

# What is loaded by now (Streamlit, SQLAlchemy, Altair, pyarrow: some 260,000 objects)
# lives as long as the process. Kept out of the collector's walk, a full collection
# takes about a millisecond instead of ~120 ms with the interpreter lock held, while
# every other session waits (docs/performance.md, "Seventh session").
gc.freeze()
