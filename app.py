"""Tend's Streamlit entry point: the quick exit, who is signed in, then route. Nothing else."""

import streamlit as st

from privacy.pages import quick_exit
from tend import navigation, web

st.set_page_config(page_title="Tend", page_icon="🌱", layout="centered")
quick_exit()
user = web.resolve_current_user()
st.navigation(navigation.navigation_for(user), position="sidebar").run()
