"""The ASGI app `streamlit run` serves: Streamlit's pages (app.py) plus Tend's routes."""

from pathlib import Path

import streamlit as st

from tend.routes import ROUTES

app = st.App(str(Path(__file__).resolve().parent.parent / "app.py"), routes=ROUTES)
