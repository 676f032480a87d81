"""What is wrong with an imported file, where, and the exception that carries all of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One fault in an imported file: the file, where in it (row, column or feature) and what is wrong."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    feature: int | None = None

    def __str__(self) -> str:
        """Render as ``file: row 12, column 车牌号: message`` (the parts that are known)."""
        where = [f"{name} {value}" for name, value in self._places() if value is not None]
        return ": ".join([self.file, *([", ".join(where)] if where else []), self.message])

    def _places(self) -> list[tuple[str, int | str | None]]:
        return [("feature", self.feature), ("row", self.row), ("column", self.column)]


class ImportFailed(Exception):
    """A file could not be imported; ``problems`` lists every fault found, each with its place."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    @classmethod
    def of(cls, file: str, message: str) -> ImportFailed:
        """A failure with one problem, about the file as a whole."""
        return cls([Problem(file, message)])

    def __str__(self) -> str:
        """One problem per line."""
        return "\n".join(str(problem) for problem in self.problems)


def shown(value: object, limit: int = 40) -> str:
    """A value as a message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
