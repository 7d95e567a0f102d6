"""The built-in task: human spellings of a date -> ISO ``YYYY-MM-DD``. No download, deterministic per seed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST = dt.date(1950, 1, 1)
LAST = dt.date(2049, 12, 31)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


# Each spelling is unambiguous: slashes are US month/day/year, dots are day.month.year, two-digit
# years mean 1950-2049.
SPELLINGS: tuple[Callable[[dt.date], str], ...] = (
    lambda d: f"{d.day} {_month(d)} {d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    lambda d: f"{WEEKDAYS[d.weekday()]}, {_month(d)} {_ordinal(d.day)}, {d.year}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{_month(d)} {d.day}, {d.year}",
    lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",
    lambda d: f"{d.day} {_month(d)[:3]} {d.year}",
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{_month(d)[:3]} {_ordinal(d.day)} {d.year}",
    lambda d: f"{_month(d).lower()} {d.day} {d.year}",
    lambda d: f"{_month(d).upper()} {d.day}, {d.year}",
    lambda d: f"{_ordinal(d.day)} of {_month(d)}, {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {_month(d)[:3]} {d.year}",
)

SAMPLE_INPUTS = (
    "March 3rd, 2021",
    "3 March 2021",
    "03/03/21",
    "Wednesday, March 3rd, 2021",
    "2021.3.3",
    "14 Jul 1989",
    "december 25 2049",
)


def random_date(rng: random.Random) -> dt.date:
    return FIRST + dt.timedelta(days=rng.randrange((LAST - FIRST).days + 1))


def make_pairs(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``count`` random (spelling, ISO date) pairs, the same for the same seed."""
    rng = random.Random(seed)
    sources, targets = [], []
    for _ in range(count):
        day = random_date(rng)
        sources.append(rng.choice(SPELLINGS)(day))
        targets.append(day.isoformat())
    return sources, targets


def split(
    sources: list[str], targets: list[str], validation_fraction: float = 0.2
) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """Train/validation split at a fixed point (the data is already shuffled)."""
    cut = len(sources) - int(len(sources) * validation_fraction)
    return (sources[:cut], targets[:cut]), (sources[cut:], targets[cut:])


def held_out_pairs(count: int, seed: int = 12345) -> tuple[list[str], list[str]]:
    """Pairs from a different seed, for measuring accuracy on dates the model was not trained on."""
    return make_pairs(count, seed=seed)
