"""Tend's Streamlit entry point: who is signed in, the quick exit, then route. Nothing else."""

import streamlit as st

from tend import navigation, web

st.set_page_config(page_title="Tend", page_icon="🌱", layout="centered")
navigation.run(web.resolve_current_user())
