"""A Streamlit session driven over Streamlit's own websocket protocol, as a browser tab
drives it: one websocket to ``/_stcore/stream``, a ``rerun_script`` message (BackMsg)
per page run, the server's ForwardMsgs until ``script_finished``.

Used by the web_sessions benchmark (many signed-in sessions on one `tend serve`) and by
tests/test_concurrent_sessions.py. No browser: what it measures is the server.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import ClientConnection, connect


@dataclass
class PageRun:
    """What one run of the page sent back."""

    seconds: float
    status: int  # ForwardMsg.ScriptFinishedStatus
    bytes_received: int
    messages: int
    headings: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == ForwardMsg.FINISHED_SUCCESSFULLY and not self.exceptions


class StreamlitSession:
    """One browser tab's session: ``run(url_path)`` runs the app on that page."""

    def __init__(self, base_url: str, cookies: dict[str, str] | None = None, timeout: float = 120):
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        headers = {"Origin": f"{parts.scheme}://{parts.netloc}"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.timeout = timeout
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                f"{scheme}://{parts.netloc}/_stcore/stream",
                subprotocols=["streamlit"],  # type: ignore[list-item]
                additional_headers=headers,
                max_size=None,
                open_timeout=timeout,
            )
        )

    def run(self, url_path: str = "", query_string: str = "") -> PageRun:
        """Run the app on the page at ``url_path`` ("" for the default page) and wait
        for the run to finish."""
        back = BackMsg()
        state = back.rerun_script
        state.query_string = query_string
        state.page_name = url_path
        state.widget_states.SetInParent()
        started = time.perf_counter()
        self.ws.send(back.SerializeToString())
        received = messages = 0
        headings: list[str] = []
        exceptions: list[str] = []
        deadline = time.monotonic() + self.timeout
        while True:
            data = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            assert isinstance(data, bytes)
            received += len(data)
            messages += 1
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                if which == "heading":
                    headings.append(element.heading.body)
                elif which == "exception":
                    exceptions.append(f"{element.exception.type}: {element.exception.message}")
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the app asked for a rerun (st.rerun): it runs again
                return PageRun(
                    time.perf_counter() - started,
                    msg.script_finished,
                    received,
                    messages,
                    headings,
                    exceptions,
                )

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> StreamlitSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
