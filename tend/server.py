"""The ASGI app `streamlit run` serves: Streamlit's pages (app.py) plus Tend's routes."""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from tend.device_cookie import DeviceCookieMiddleware
from tend.routes import ROUTES

app = st.App(
    str(Path(__file__).resolve().parent.parent / "app.py"),
    routes=ROUTES,
    middleware=[Middleware(DeviceCookieMiddleware)],
)
