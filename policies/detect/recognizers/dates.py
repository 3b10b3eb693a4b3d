"""Calendar dates (DATE_TIME): real date shapes only, validated; durations ("3 days") never match.

HIPAA Safe Harbor removes every element of a date tied to an individual except the year, so a
month with a day or year ("March 3", "03/2021" is not matched: too ambiguous) counts; a bare year
does not.
"""
from __future__ import annotations

import re
from datetime import date

from .base import RuleRecognizer, rule

_MONTH_NAMES = ("jan(?:uary)?", "feb(?:ruary)?", "mar(?:ch)?", "apr(?:il)?", "may", "june?", "july?", "aug(?:ust)?",
                "sep(?:t(?:ember)?)?", "oct(?:ober)?", "nov(?:ember)?", "dec(?:ember)?")


def _title_or_upper(pattern: str) -> str:
    """`pattern` (lowercase) as Title case or UPPER case only: "March"/"MARCH", never "march"/"may"."""
    head, tail = pattern[0], pattern[1:]
    return f"(?:{head.upper()}{tail}|{head.upper()}{_upper(tail)})"


def _upper(pattern: str) -> str:
    return re.sub(r"(?<!\\)(?<!\(\?)[a-z]", lambda m: m.group(0).upper(), pattern)


MONTH = r"(?:" + "|".join(_title_or_upper(m) for m in _MONTH_NAMES) + r")\.?"
# Month names of French, Spanish, Italian, German, Dutch and Portuguese dates ("28 juillet 1957",
# "3 de marzo de 1990", "14. März 1987"), accents optional; only as day-month-year, never alone.
FOREIGN_MONTH = (r"(?i:janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre"
                 r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre"
                 r"|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre"
                 r"|januar|februar|m[äa]rz|juni|juli|oktober|dezember|januari|februari|maart|mei|augustus"
                 r"|janeiro|fevereiro|mar[çc]o|maio|junho|julho|setembro|outubro|novembro|dezembro)")
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
YEAR = r"(?:1[89]\d\d|20\d\d)"
END = r"(?![\w/])"


# A month and day without a year ("3/14") counts only right after a cue tying it to the person.
PERSON_DATE_CUES = (r"DOB|DOD|DOA|DOS|d/c'?d|d/c|discharged|admitted|adm|died|expired|deceased|born|last\s+seen"
                    r"(?:\s+(?:normal|nl|well))?|LKW|LSN|last\s+known\s+well|seen\s+on|visit\s+on|date\s+of\s+(?:service|injury)")
MONTH_DAY_NUMERIC = r"(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])"


def _month_day_score(match: re.Match[str]) -> float | None:
    try:
        date(2000, int(match.group("m")), int(match.group("d")))  # a leap year: 2/29 is a day
    except ValueError:
        return None
    return 0.8


def _numeric_score(match: re.Match[str]) -> float | None:
    """A numeric date a/b/y is kept if it reads as month/day or day/month of a real calendar date."""
    first, second, year_text = int(match.group("a")), int(match.group("b")), match.group("y")
    year = int(year_text) if len(year_text) == 4 else 2000 + int(year_text)
    for month, day in ((first, second), (second, first)):
        try:
            date(year, month, day)
            return 0.85 if len(year_text) == 4 else 0.7
        except ValueError:
            continue
    return None


def _iso_score(match: re.Match[str]) -> float | None:
    try:
        date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
    except ValueError:
        return None
    return 0.9


def dates() -> RuleRecognizer:
    return RuleRecognizer("DATE_TIME", [
        rule(rf"(?<![\w/.\-])(?P<a>\d{{1,2}})(?P<sep>[/.\-])(?P<b>\d{{1,2}})(?P=sep)(?P<y>{YEAR}){END}", _numeric_score),
        rule(rf"(?<![\w/.\-])(?P<a>\d{{1,2}})(?P<sep>[/\-])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{2}}){END}", _numeric_score),
        rule(rf"(?<![\w/.\-])(?P<y>{YEAR})(?P<sep>[\-/.])(?P<m>\d{{1,2}})(?P=sep)(?P<d>\d{{1,2}}){END}", _iso_score),
        rule(rf"\b{MONTH}\s+{DAY},?\s+{YEAR}\b", 0.9),
        rule(rf"\b{DAY}(?:\s+of)?\s+{MONTH},?\s+{YEAR}\b", 0.9),
        rule(rf"\b{DAY}\.?\s+(?:de\s+)?{FOREIGN_MONTH}\s+(?:de\s+)?{YEAR}\b", 0.85),
        rule(rf"\b{DAY}-{MONTH}-(?:{YEAR}|\d\d)\b", 0.9),
        rule(rf"\b(?:0[1-9]|[12]\d|3[01]){MONTH}{YEAR}\b", 0.9),                      # 04MAR2024
        rule(rf"(?i:\b(?:{PERSON_DATE_CUES}))[ \t]*[:\-]?[ \t]*(?P<value>{MONTH_DAY_NUMERIC}){END}", _month_day_score),
        rule(rf"\b{MONTH}\s+{DAY}\b(?!\s*(?:mg|ml|units|%))", 0.55),
        rule(rf"\b{MONTH}\s+{YEAR}\b", 0.6),
    ], "DateRecognizer")
