"""The ASGI app `streamlit run` serves: Streamlit's pages (app.py) plus Tend's routes,
every response with Tend's security headers."""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from tend.device_cookie import DeviceCookieMiddleware
from tend.headers import SecurityHeadersMiddleware
from tend.routes import ROUTES

app = st.App(
    str(Path(__file__).resolve().parent.parent / "app.py"),
    routes=ROUTES,
    middleware=[Middleware(SecurityHeadersMiddleware), Middleware(DeviceCookieMiddleware)],
)
