"""Measured figures, printed at the end of the run (``pytest_terminal_summary``)."""
from typing import List

FIGURES: List[str] = []


def record(line: str) -> None:
    FIGURES.append(line)
