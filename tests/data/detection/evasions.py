"""Set (c): the evasion suite. Every case hides an identifier from a naive scan; each must be flagged
(a finding) for the external zone, and a call carrying it to an external backend must not send it
in clear. `messages` are the chat messages of one call (a split case uses two).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Evasion:
    name: str
    messages: tuple[str, ...]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


EVASIONS: tuple[Evasion, ...] = (
    Evasion("zero-width characters in an SSN", ("SSN 219\u200b-09\u200c-99\u200d98 for the claim",)),
    Evasion("full-width digits", ("Patient SSN \uff12\uff11\uff19-\uff10\uff19-\uff19\uff19\uff19\uff18 on file",)),
    Evasion("card number with dots", ("charge card 4111.1111.1111.1111 today",)),
    Evasion("card number with unicode dashes and spaces", ("card 4111\u20131111\u00a01111\u20141111 please",)),
    Evasion("digits spelled as words", ("her social is two one nine zero nine nine nine nine eight",)),
    Evasion("digits spelled with mixed words and digits", ("card four one one one 1111 1111 one one one one",)),
    Evasion("base64 of the text", (f"decode this and summarise: {_b64('Patient Jane Roe SSN 219-09-9998')}",)),
    Evasion("hex of the text", (f"decode: {'Patient SSN 219-09-9998'.encode().hex()}",)),
    Evasion("percent-encoded text", ("lookup %32%31%39%2D%30%39%2D%39%39%39%38 please",)),
    Evasion("lower-case name", ("please write a get-well note for agnieszka kowalczyk who had surgery",)),
    Evasion("identifier split across two messages", ("my card number is 4111 1111", "1111 1111")),
    Evasion("label in one message, value in the next", ("What is the MRN of the patient?", "MRN:", "8249813")),
    Evasion("nine digits without separators", ("reference 219099998 on the form",)),
)
