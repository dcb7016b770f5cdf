"""lakehook's Quartz module against Quartz itself (Quartz 2.3.2 from Debian's libquartz2-java).

Hundreds of generated expressions, every feature mixed (L, W, #, names, wrapping ranges,
increments, years), in UTC and in zones with daylight saving: the next fire times must be exactly
Quartz's. Skipped where Java or the Quartz jar is missing (``apt-get install libquartz2-java``).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lambda_resolver.core.schedule import CronSlots

QUARTZ_JAR = Path("/usr/share/java/quartz2.jar")
ORACLE = Path(__file__).resolve().parent.parent / "support" / "QuartzOracle.java"
ZONES = ("UTC", "GMT-09:30", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago")

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or not QUARTZ_JAR.exists(), reason="needs java and libquartz2-java"
)


def quartz(cases: list[tuple[str, str, datetime, int]]) -> list[list[str]]:
    """Quartz's answers for (expression, zone, start, n) cases, one list of strings per case."""
    lines = "".join(f"{e}\t{z}\t{s.strftime('%Y-%m-%dT%H:%M:%SZ')}\t{n}\n" for e, z, s, n in cases)
    done = subprocess.run(
        ["java", "-cp", str(QUARTZ_JAR), str(ORACLE)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.split("\t") for line in done.stdout.splitlines()]


def ours(expression: str, zone: str, start: datetime, n: int) -> list[str]:
    slots = CronSlots.of(expression, zone)
    out, t = ["OK"], start
    for _ in range(n):
        nxt = slots.next_after(t)
        if nxt is None:
            out.append("NONE")
            break
        out.append(nxt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        t = nxt
    return out


def expression(rng: random.Random) -> str:
    """A random valid expression mixing every Quartz feature lakehook accepts."""
    pick = rng.choice
    seconds = pick(["0", "0", "*/15", "5/20", "0-10/5", "7,33", "59"])
    minutes = pick(["0", "30", "*/10", "5/25", "0-5", "14,18,3-39,52", "58-2"])
    hours = pick(["*", "2", "1-3", "22-2", "*/6", "0,12", "9-17/4", "3"])
    months = pick(["*", "*", "JAN-MAR", "2", "*/3", "11-2", "FEB,AUG", "6-8"])
    if rng.random() < 0.5:
        dom = pick(["L", "L-2", "LW", "L-3W", "15W", "1W", "31", "1/5", "*/10", "5-10", "29", "*", "25-5"])
        dow = "?"
    else:
        dom = "?"
        dow = pick(["MON-FRI", "6L", "2#3", "1", "SUN", "FRI-MON", "1-7/3", "L", "7#5", "*", "TUE,THU", "1L"])
    year = pick(["", "", " *", " 2026-2030", " 2027/2"])
    return f"{seconds} {minutes} {hours} {dom} {months} {dow}{year}"


def dst_changes(zone: str, year: int) -> list[datetime]:
    """The days (UTC midnight) on which ``zone`` changes its UTC offset in ``year``."""
    tz, out = ZoneInfo(zone), []
    day = datetime(year, 1, 1, tzinfo=timezone.utc)
    while day.year == year:
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            out.append(day)
        day = nxt
    return out


def first_pass_of_repeated_hour(zone: str, t: datetime) -> bool:
    """Whether ``t`` is the first pass of an hour that repeats (where Quartz and lakehook differ)."""
    slots = CronSlots.of("0 0 0 * * ?", zone)
    return slots._wall(t)[1] > timedelta(0)


def test_generated_expressions_fire_exactly_when_quartz_fires_them() -> None:
    rng = random.Random(20261207)  # noqa: S311 - reproducible test data
    cases: list[tuple[str, str, datetime, int]] = []
    while len(cases) < 400:
        zone = rng.choice(ZONES)
        start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(4 * 365 * 86_400))
        if first_pass_of_repeated_hour(zone, start):
            continue
        cases.append((expression(rng), zone, start, 6))
    # and across every DST change of 2026 in each zone, from the day before, where the wall clock jumps
    for zone in ZONES[2:]:
        for change in dst_changes(zone, 2026):
            start = change - timedelta(days=1)
            for expr in ("0 */30 * * * ?", "0 0 * * * ?", "0 30 2 * * ?", "0 0 0 * * ?", "*/20 59 * * * ?"):
                cases.append((expr, zone, start, 80))
    answers = quartz(cases)
    mismatches = [
        (case, theirs, mine)
        for case, theirs in zip(cases, answers, strict=True)
        if theirs != (mine := ours(*case))
    ]
    assert not mismatches, mismatches[:3]
