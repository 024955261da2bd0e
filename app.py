"""Tend's Streamlit entry point: resolve who is signed in, then route. Nothing else."""

import streamlit as st

from agreements.pages import cooldown_control
from tend import navigation, web

st.set_page_config(page_title="Tend", page_icon="🌱", layout="centered")
user = web.resolve_current_user()
page = st.navigation(navigation.navigation_for(user), position="sidebar")
if user is not None:
    # "I need a cooldown" must be reachable from every page in a tap or two.
    with st.sidebar:
        cooldown_control()
page.run()
