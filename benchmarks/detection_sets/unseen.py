"""Set (a): new templates, written once before any tuning of issue 11 and never tuned on.

Rendered at run time from a seed drawn fresh for each run (printed, so a run can be repeated), so
no document of it can have been looked at while the detector was changed.
"""
from __future__ import annotations

CLINICAL = (
    "Called {p.first} at {phone} re: lab results; no answer, left message with her husband {r.full}.",
    "Pt seen on {short_date} for f/u of CABG in {short_date}. Lives at {street}, {city_zip}. Wife {r.first} drives.",
    "Referral for {p.lastfirst} to Dr. {d.last}, cardiology. Pager {pager}. MR: {mrn}.",
    "{p.full} is a {age} yo woman with hx of AFib since {short_date}, here with daughter {r.first}.",
    "Discharge instructions given to {p.first} {p.last} and son {r.full}. Follow-up {date} with {d.full}, NP.",
    "SSN {ssn} on the registration form for {p.full}; address {street}, {city_state_zip}.",
    "Tele consult: {d.full} spoke with pt's niece {r.first} ({phone}) who reports pt fell {short_date}.",
    "Wound check. Pt {p.lower} states dressing changed by home nurse {r.first} yesterday. Next visit {date}.",
    "Records request from {p.full}, DOB {date}, acct {account}, mailed to {street}, {city_state_zip}.",
    "Pt instructed to call the on-call line {phone} or page Dr {d.last} at {pager} overnight.",
    "Seen by {d.caps}, M.D. on {date}. Pt {p.full}, MRN {mrn}, reports pain 4/10 in L knee.",
    "Medication reconciliation with {p.first}; her pharmacist {r.full} at {phone} confirmed the list.",
)
GENERAL = (
    "Hi, I'm {p.full} and I moved to {world_city} last month. My new number is {world_phone}, email {p.email}.",
    "Please update my details: NI number {nino}, address {street}, {city_zip}. Thanks, {p.first}",
    "Mi DNI es {dni} y vivo en {world_city}. Contacto: {world_phone}. Saludos, {p.full}",
    "Le numero de securite sociale de {p.full} est {nir}; telephone {world_phone}.",
    "Codice fiscale {cf} intestato a {p.full}, residente a {world_city}.",
    "My SIN is {sin}, can you check why my tax refund for {p.full} was rejected? Call {world_phone}.",
    "NIE {nie} for the rental in {world_city}; tenant {p.full}, guarantor {r.full}.",
    "Portal link {url} was sent to {p.email} by mistake, it belongs to {r.full}.",
    "dear {d.first}, could you send the invoice for {p.full} to {p.email}? regards, {r.first}",
    "Tenant {p.lastfirst} at {street}, {city_state_zip} paid late; SSN on file {ssn}.",
    "can u remind {p.lower} about the meeting at {street} on {date}? her cell is {phone}",
    "Interview notes: candidate {p.full}, born {date} in {world_city}, references {r.full} and {d.full}.",
)
BENIGN = (
    "Assessment: community-acquired pneumonia, CURB-65 of 1. Start ceftriaxone 1 g IV daily and azithromycin 500 mg.",
    "Echo: LVEF 35-40%, moderate MR, no pericardial effusion. Continue carvedilol 6.25 mg BID, add spironolactone 25 mg.",
    "Plan: repeat CBC and BMP in the morning, keep K above 4.0 and Mg above 2.0, telemetry overnight.",
    "Patient counselled on insulin glargine titration: increase by 2 units every 3 days until fasting glucose below 130.",
    "Wound: 3 x 2 cm stage II pressure injury over the sacrum, granulating, no tunnelling. Foam dressing every 72 hours.",
    "MRI brain without contrast shows chronic small vessel ischemic changes; no acute infarct. Neurology to follow.",
    "The quarterly report covers 1,204 visits, 37 readmissions and a median length of stay of 4.2 days.",
    "Order set updated: enoxaparin 40 mg subcutaneously daily for VTE prophylaxis unless CrCl below 30 mL/min.",
)
TEMPLATES = {"clinical": CLINICAL, "general": GENERAL, "benign": BENIGN}
