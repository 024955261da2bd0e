"""Count the SQL statements an engine runs during a block (tests and measurements).

    with counting(engine) as statements:
        ...
    len(statements), statements.repeated()

A ``before_cursor_execute`` listener on the engine (or on every Engine when none is
given) records each statement's text and parameters; ``executemany`` counts once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


class Statements(list[tuple[str, Any]]):
    """The (statement, parameters) pairs run, in order."""

    def texts(self) -> list[str]:
        return [text for text, _ in self]

    def repeated(self) -> dict[str, int]:
        """Statements run more than once with the same parameters: read twice."""
        counts = Counter((text, repr(params)) for text, params in self)
        return {text: n for (text, _), n in counts.items() if n > 1}

    def matching(self, fragment: str) -> list[str]:
        return [text for text in self.texts() if fragment in text]


@contextmanager
def counting(engine: Engine | type[Engine] = Engine) -> Iterator[Statements]:
    statements = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
