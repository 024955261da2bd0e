"""Tend's Streamlit entry point: who is signed in, the quick exit, then route. Nothing else."""

import streamlit as st

from privacy.pages import quick_exit
from tend import navigation, web

st.set_page_config(page_title="Tend", page_icon="🌱", layout="centered")
user = web.resolve_current_user()
page = st.navigation(navigation.navigation_for(user), position="sidebar")
quick_exit()
page.run()
