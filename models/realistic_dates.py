"""A fresh test set of date spellings, written independently of the training generator in ``dates.py``.

It uses ``strftime`` formats that people and programs actually produce (with the task's conventions:
slashes are US month/day/year, dots are day.month.year) and the casings people type, so the built-in
model's accuracy is measured on spellings it was not generated from.
"""

from __future__ import annotations

import datetime as dt
import random

# "{d}" is the day without a leading zero, "{m}" the month without one, "{o}" the ordinal day.
FORMATS = (
    "%Y-%m-%d",
    "%B %d, %Y",
    "%B {d}, %Y",
    "%b %d %Y",
    "%b {d}, %Y",
    "%d %B %Y",
    "{d} %B %Y",
    "{d} %b %Y",
    "%A, %B {d}, %Y",
    "%A, %B {o}, %Y",
    "%a %d %b %Y",
    "%a, %b {d}, %Y",
    "%m/%d/%Y",
    "{m}/{d}/%Y",
    "%m/%d/%y",
    "{m}/{d}/%y",
    "%d.%m.%Y",
    "{d}.{m}.%Y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%B {o}, %Y",
    "{o} %B %Y",
    "{o} of %B, %Y",
    "the {o} of %B, %Y",
    "%b {o} %Y",
)
CASINGS = ("as is", "as is", "as is", "lower", "lower", "upper")


def _ordinal(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}" + ("th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th")[n % 10]


def render(day: dt.date, fmt: str, casing: str) -> str:
    text = day.strftime(fmt).replace("{d}", str(day.day)).replace("{m}", str(day.month))
    text = text.replace("{o}", _ordinal(day.day))
    return text.lower() if casing == "lower" else text.upper() if casing == "upper" else text


def realistic_pairs(count: int = 2000, seed: int = 2026) -> tuple[list[str], list[str]]:
    """``count`` (spelling, ISO date) pairs over 1950-2049, every format and casing equally likely."""
    rng = random.Random(seed)
    first, span = dt.date(1950, 1, 1), (dt.date(2049, 12, 31) - dt.date(1950, 1, 1)).days
    sources, targets = [], []
    for _ in range(count):
        day = first + dt.timedelta(days=rng.randint(0, span))
        sources.append(render(day, rng.choice(FORMATS), rng.choice(CASINGS)))
        targets.append(day.isoformat())
    return sources, targets
