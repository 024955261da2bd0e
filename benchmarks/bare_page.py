"""The floor for the pages benchmark: a bare Streamlit page drawing one Altair chart
from a 120-row frame (ten years of monthly points)."""

import altair as alt
import pandas as pd
import streamlit as st

st.title("Bare chart")
frame = pd.DataFrame({"month": range(120), "total": [(i * 7) % 20 for i in range(120)]})
st.altair_chart(alt.Chart(frame).mark_line().encode(x="month", y="total"), width="stretch")
