"""Set (b): real-note style text (the layout of i2b2 2014 de-identification notes, surrogate values):
record-date headers, name and record-number header lines, signature blocks, dictation and initials
lines. Written once before any tuning of issue 11 and never tuned on; rendered from a fresh seed.
"""
from __future__ import annotations

NOTES = (
    "Record date: {date}\n\n{p.capslastfirst}   {mrn}\n\nMR:\t{mrn}\n\n"
    "Mr. {p.last} returns for follow-up of his CAD. He had a CABG in {short_date} and has been doing well "
    "since {short_date}. Seen on {short_date} by Dr. {d.last} for chest tightness.\n\n"
    "Medications: aspirin 81 mg, atorvastatin 40 mg, metoprolol 25 mg bid.\n\n"
    "______________________________\n{d.caps}, M.D.\n\nDD: {date}\nDT: {date}\nDV: {date}\n{d.initials}:{p.lowerlast}\n",

    "Record date: {date}\n\n{city} MEDICAL CENTER\n\nReason for visit: dyspnea\n\n"
    "{p.first} is a {age} year old woman followed by {d.full} for CHF. Her daughter {r.first} {r.last} "
    "called on {short_date}; pager {pager}.\n\nPlan: diuresis, daily weights.\n\n"
    "{d.full}, MD\n{d.initials}/{p.lowerlast}\ncc: Dr. {r.last}\n",

    "Record date: {date}\n\nPATIENT: {p.caps}\nMRN: {mrn}\nDOB: {date}\n\n"
    "HPI: {p.first} reports fatigue since {short_date}. Lives alone at {street}, {city_zip}. "
    "Contact son {r.full} at {phone}.\n\nPE: BP 142/88, HR 76.\n\n"
    "Electronically signed {d.full}, M.D. {date}\n",

    "Record date: {date}\n\n{p.capslastfirst}\n{mrn}\n{date}\n\n"
    "Seen with {r.first} (wife). History of DM since {short_date}, HTN. A1c 8.1 on {short_date}.\n"
    "Will call {p.first} with results at {phone}.\n\n{d.full}\n\n{d.initials}:{p.lowerlast}\nDD:{date}\nDT:{date}\n",
)
TEMPLATES = {"notes": NOTES}
