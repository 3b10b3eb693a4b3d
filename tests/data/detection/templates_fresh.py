"""Fresh split: a third, differently authored set (measure only, never tune on a single document).

Written after the detector was tuned on `dev`, in other registers than `dev`/`heldout`: terse ED
triage with abbreviations, discharge summaries, referral letters, insurance and billing mail, HR and
onboarding forms, customer-support e-mail, chat with lower-case names, forms with names in capitals.
Its own value layouts (`FreshSynth`): many date formats, ages as "92 yo"/"92yoF"/"aged 91",
international phone layouts, ZIP+4, addresses on one or several lines, identifiers at varied
distances from varied labels. Benign text is heavy with numbers (doses, labs, vitals, ICD-10 and CPT
codes, lot numbers, times, room numbers) to measure precision.
"""
import re
import string

from synth import MONTHS, Person, Pools, Segment, Synth, STATE_NAMES

POOLS = Pools(
    first_names=("Eleanor", "Walter", "Beatrice", "Harold", "Imogen", "Rupert", "Marisol", "Joaquin", "Ayesha", "Bilal",
                 "Xinyi", "Haoran", "Takumi", "Akiko", "Bogdan", "Oksana", "Siddharth", "Lakshmi", "Oluwaseun", "Folake",
                 "Caleb", "Nora", "Everett", "Hazel", "Tobias", "Greta", "Rosalind", "Desmond", "Ines", "Teodor",
                 "Maeve", "Cormac", "Anjali", "Nikhil", "Duc", "Phuong", "Esperanza", "Ignacio", "Reuben", "Miriam",
                 "Kofi", "Abena", "Soren", "Freya", "Matteo", "Chiara", "Yusuf", "Leyla", "Ruth", "Grace"),
    last_names=("Abernathy", "Blackwood", "Castellanos", "Delacroix", "Eriksen", "Fairbanks", "Guerrero", "Hollis",
                "Iwasaki", "Jablonski", "Kaminski", "Lindqvist", "Markovic", "Nakamura", "Oyelaran", "Pennington",
                "Quintero", "Rasmussen", "Szabo", "Thornton", "Underwood", "Valdez", "Whitaker", "Yilmaz", "Zielinski",
                "Achebe", "Bhattacharya", "Chowdhury", "Dunleavy", "Espinoza", "Ferreira", "Gustafsson", "Holloway",
                "Ibarra", "Jovanovic", "Kavanagh", "Lombardi", "Mukherjee", "Navarro", "O'Sullivan", "Pham", "Rinaldi",
                "Stavros", "Takahashi", "Vasquez", "Wojcik", "Young-Bae", "St. Clair", "MacKenzie", "Ng"),
    us_places=(("Worcester", "MA"), ("Peoria", "IL"), ("Amarillo", "TX"), ("Flagstaff", "AZ"), ("Tacoma", "WA"),
               ("Pueblo", "CO"), ("Macon", "GA"), ("Gainesville", "FL"), ("Eugene", "OR"), ("Chattanooga", "TN"),
               ("Dayton", "OH"), ("Frederick", "MD"), ("Green Bay", "WI"), ("Santa Fe", "NM"), ("Bakersfield", "CA"),
               ("Lincoln", "NE"), ("Asheville", "NC"), ("Montpelier", "VT"), ("Norman", "OK"), ("Pocatello", "ID"),
               ("Bowling Green", "KY"), ("Roanoke", "VA"), ("Newport", "RI"), ("New Haven", "CT"), ("Cedar Rapids", "IA"),
               ("Fayetteville", "AR"), ("Fairbanks", "AK"), ("Hilo", "HI"), ("Henderson", "NV"), ("Topeka", "KS"),
               ("Buffalo", "NY"), ("Rochester", "MN"), ("Kalamazoo", "MI"), ("Erie", "PA")),
    streets=("Beacon", "Sycamore", "Hawthorne", "Juniper", "Lexington", "Monroe", "Kingsley", "Foxglove", "Ridgeview",
             "Cherry Blossom", "Quarry", "Saint Andrews", "Tamarack", "Osage", "Cottonwood", "N. Jackson", "E 14th"),
    street_suffixes=("St", "St.", "Ave", "Avenue", "Rd", "Road", "Dr", "Drive", "Ln", "Lane", "Blvd", "Ct", "Pl",
                     "Way", "Terrace", "Circle", "Pkwy", "Hwy", "Trail"),
    uk_cities=("Aberdeen", "Swansea", "Coventry", "Brighton", "Norwich", "Plymouth", "York"),
    eu_cities=("Bilbao", "Bologna", "Toulouse", "Dresden", "Utrecht", "Wroclaw", "Malaga", "Stuttgart"),
    email_domains=("gmx.de", "aol.com", "btinternet.com", "mail.com", "kaiserpermanente.org", "optonline.net"),
    web_hosts=("lakeshore-health.org", "mychart.valleymed.com", "bluecrest-insurance.com", "help.shopfinch.com"),
)

MONTH_ABBR = tuple(m[:3] for m in MONTHS)


class FreshSynth(Synth):
    """The fresh split's own layouts of names, dates, ages, phones, ZIPs, addresses and identifiers."""

    PERSONA_SLOT = re.compile(
        r"(pt|dr|dr2|rel|rel2|nurse|emp|agent)(?:_(first|last|full|lastfirst|formal|upper|upperlastfirst|lower"
        r"|lowerfirst|initial))?"
    )

    def _name(self, role: str, form: str) -> str:
        p: Person = self.person(role)
        if form == "upper":
            return f"{p.first} {p.last}".upper()
        if form == "upperlastfirst":
            return self.pick([f"{p.last}, {p.first}".upper(), f"{p.last}, {p.first} {p.middle}".upper()])
        if form == "lower":
            return f"{p.first} {p.last}".lower()
        if form == "lowerfirst":
            return p.first.lower()
        if form == "initial":
            return f"{p.first[0]}. {p.last}"
        return super()._name(role, form)

    # ---- dates tied to a person, in many layouts -------------------------------------------------
    def _fresh_date(self, first_year: int, last_year: int) -> str:
        year = self.rng.randint(first_year, last_year)
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        name, abbr = MONTHS[month - 1], MONTH_ABBR[month - 1]
        suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(day, "th")
        return self.pick([
            f"{month}/{day}/{year % 100:02d}", f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}",
            f"{day:02d}{abbr.upper()}{year}", f"{day:02d}-{abbr}-{year}", f"{abbr} {day}, {year}",
            f"{name} {day}{suffix}, {year}", f"{day}{suffix} {name} {year}", f"{day} {abbr} {year}",
            f"{year}/{month:02d}/{day:02d}", f"{day:02d}.{month:02d}.{year}", f"{name.upper()} {day}, {year}",
            f"{month}-{day}-{year}", f"{abbr}. {day} {year}",
        ])

    def s_fdob(self) -> Segment:
        return self._fresh_date(1919, 2007), "DATE_TIME"

    def s_fdate(self) -> Segment:
        return self._fresh_date(2019, 2025), "DATE_TIME"

    def s_monthday(self) -> Segment:
        """Month and day without a year ("3/14", "Mar 14"): still a date element under Safe Harbor."""
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        return self.pick([f"{month}/{day}", f"{MONTH_ABBR[month - 1]} {day}", f"{MONTHS[month - 1]} {day}"]), "DATE_TIME"

    # ---- ages over 89 ---------------------------------------------------------------------------
    def s_fage90(self) -> list[Segment]:
        age = str(self.rng.randint(90, 103))
        sex = self.pick(["F", "M"])
        layouts = [
            ("", " yo"), ("", "yo" + sex), ("", " YO" + sex), ("", " y/o"), ("", "-year-old"), ("", " year old"),
            ("aged ", ""), ("age ", ""), ("", " y.o."), ("", " yrs old"), ("", "-yo"), ("", " years of age"),
        ]
        before, after = self.pick(layouts)
        return [(before, None), (age, "AGE_OVER_89"), (after, None)]

    # ---- contact ---------------------------------------------------------------------------------
    def s_fphone(self) -> Segment:
        area, exchange, line = f"{self.rng.randint(2, 9)}{self.digits(2)}", f"{self.rng.randint(2, 9)}{self.digits(2)}", self.digits(4)
        return self.pick([f"{area} {exchange} {line}", f"({area}) {exchange} {line}", f"+1 ({area}) {exchange}-{line}",
                          f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}", f"1 ({area}) {exchange}-{line}",
                          f"({area}) {exchange}-{line}"]), "PHONE_NUMBER"

    def s_world_phone(self) -> Segment:
        return self.pick([f"+44 (0)20 {self.digits(4)} {self.digits(4)}", f"+61 2 {self.digits(4)} {self.digits(4)}",
                          f"+91 98{self.digits(3)} {self.digits(5)}", f"+353 1 {self.digits(3)} {self.digits(4)}",
                          f"0044 161 {self.digits(3)} {self.digits(4)}", f"+49 (0)89 {self.digits(7)}",
                          f"+33 6 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
                          f"+52 55 {self.digits(4)} {self.digits(4)}", f"+81 3-{self.digits(4)}-{self.digits(4)}",
                          f"+27 21 {self.digits(3)} {self.digits(4)}", f"07{self.digits(3)}-{self.digits(6)}"]), "PHONE_NUMBER"

    # ---- places ----------------------------------------------------------------------------------
    def s_zip4(self) -> Segment:
        return f"{self.digits(5)}-{self.digits(4)}", "ZIP_CODE"

    def s_fzip(self) -> Segment:
        return self.pick([self.digits(5), f"{self.digits(5)}-{self.digits(4)}"]), "ZIP_CODE"

    def _street(self) -> str:
        number = self.rng.randint(3, 24999)
        prefix = self.pick(["", "", "", "N ", "S. ", "West ", "E. "])
        return f"{number} {prefix}{self.pick(self.pools.streets)} {self.pick(self.pools.street_suffixes)}"

    def s_faddr(self) -> Segment:
        unit = self.pick(["", "", f" Apt {self.rng.randint(1, 30)}{self.pick('ABC')}", f", Unit {self.rng.randint(2, 400)}",
                          f" #{self.rng.randint(2, 60)}", f", Ste {self.rng.randint(100, 900)}"])
        return self._street() + unit, "STREET_ADDRESS"

    def s_fcity_line(self) -> list[Segment]:
        """"Peoria, IL 61604", "Peoria IL 61604-2231", "Peoria, Illinois 61604", "PEORIA, IL 61604"."""
        city, code = self._place()
        layout = self.pick(["comma", "comma", "nocomma", "statename", "caps"])
        if layout == "statename":
            return [(city, "LOCATION"), (", ", None), (STATE_NAMES.get(code, code), "LOCATION"), (" ", None), self.s_fzip()]
        if layout == "caps":
            return [(city.upper(), "LOCATION"), (", ", None), (code, "LOCATION"), (" ", None), self.s_fzip()]
        separator = ", " if layout == "comma" else " "
        return [(city, "LOCATION"), (separator, None), (code, "LOCATION"), (" ", None), self.s_fzip()]

    def s_address_block(self) -> list[Segment]:
        """An address over two or three lines."""
        lines: list[Segment] = [self.s_faddr(), ("\n", None)]
        if self.rng.random() < 0.4:
            lines = [(self._street(), "STREET_ADDRESS"), ("\n", None),
                     (f"Apt {self.rng.randint(1, 30)}{self.pick('ABCD')}", "STREET_ADDRESS"), ("\n", None)]
        return [*lines, *self.s_fcity_line()]

    # ---- identifiers in other layouts ----------------------------------------------------------------
    def s_fmrn(self) -> Segment:
        return self.pick([self.digits(7), f"{self.digits(3)}-{self.digits(2)}-{self.digits(2)}", f"E{self.digits(8)}",
                          f"{self.digits(10)}", f"MRN{self.digits(7)}"]), "MEDICAL_RECORD_NUMBER"

    def s_facct(self) -> Segment:
        return self.pick([self.digits(10), f"{self.digits(3)}-{self.digits(6)}", f"HAR{self.digits(8)}",
                          f"{self.digits(6)}-{self.digits(2)}"]), "ACCOUNT_NUMBER"

    def s_fmember(self) -> Segment:
        return self.pick([f"{self.letters(3)}{self.digits(8)}", f"{self.digits(9)}A", f"ZG{self.digits(7)}-01",
                          f"{self.letters(1)}{self.digits(10)}"]), "HEALTH_PLAN_ID"

    def s_fcc(self) -> Segment:
        pan = self._pan()
        if len(pan) == 15:
            return self.pick([pan, f"{pan[:4]}-{pan[4:10]}-{pan[10:]}"]), "CREDIT_CARD"
        return self.pick([pan, " ".join(pan[i:i + 4] for i in range(0, 16, 4)), "-".join(pan[i:i + 4] for i in range(0, 16, 4))]), "CREDIT_CARD"

    def s_fnino(self) -> Segment:
        first, second = self.pick("ABCEGHJKLMNPRSTWXYZ"), self.pick("ABCEGHJKLMNPRSTWXYZ")
        while first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):  # prefixes never issued
            second = self.pick("ABCEGHJKLMNPRSTWXYZ")
        d = self.digits(6)
        return self.pick([f"{first}{second}{d}{self.pick('ABCD')}", f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {self.pick('ABCD')}",
                          f"{first}{second}{d[:2]} {d[2:4]} {d[4:]}{self.pick('ABCD')}"]), "UK_NINO"

    # ---- benign filler with numbers -----------------------------------------------------------------
    def s_cpt(self) -> Segment:
        return self.pick(["99285", "99284", "93000", "71046", "36415", "80053", "85025", "96374", "J1885", "G0378"]), None

    def s_lot(self) -> Segment:
        return f"{self.pick(string.ascii_uppercase)}{self.digits(2)}{self.pick(string.ascii_uppercase)}{self.digits(3)}", None

    def s_time(self) -> Segment:
        return self.pick([f"{self.rng.randint(0, 23):02d}{self.pick(['00', '15', '30', '45'])}",
                          f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}", f"{self.rng.randint(1, 12)}:{self.rng.randint(10, 59)} pm"]), None

    def s_room(self) -> Segment:
        return self.pick([f"Rm {self.rng.randint(100, 899)}", f"bed {self.rng.randint(1, 40)}{self.pick('AB')}", f"Bay {self.rng.randint(1, 24)}",
                          f"room {self.rng.randint(2, 12)}{self.rng.randint(10, 60)}", f"ED {self.rng.randint(1, 30)}"]), None

    def s_ndc(self) -> Segment:
        return f"{self.digits(5)}-{self.digits(3)}-{self.digits(2)}", None


CLINICAL = (
    """ED TRIAGE {time}
{pt_upperlastfirst}  {fage90}  MRN {fmrn}
CC: SOB x2d, +CP. PMHx HTN, DM2, CHF (EF 30%). NKDA.
Arrived via EMS from home ({faddr}, {city}). {vital} {vital} {lab}
Triage ESI 2. Family: {relation} {rel_full} {fphone}. PCP Dr {dr_last}.
""",
    """triage note: pt {pt_lower}, {fage90}, c/o {complaint} since this am. lives w/ {relation} {rel_lowerfirst}. hx afib on {drug}. {vital}. per {relation}, last seen nl {monthday}. callback {fphone}
""",
    """DISCHARGE SUMMARY
Patient Name: {pt_upperlastfirst}
Med Rec No.: {fmrn}        Acct: {facct}
DOB: {fdob}     Admit: {fdate}     D/C: {fdate}
Attending Physician: {dr_initial}, MD
Brief hospital course: {fage90} with {complaint}; diuresed with {drug} {dose} {freq}. {lab}, {lab}.
Follow-up: PCP {dr2_full} within 7 days, {world_phone}. Home: {address_block}
""",
    """Re: {pt_full} (DOB {fdob})

Dear Dr. {dr_last},

Thank you for seeing {pt_first}, a pleasant {fage90} {sex} whom I am referring for evaluation of {complaint}. Medications include {drug} {dose} {freq}.
Insurance: Aetna Medicare Advantage, Member ID #: {fmember}. NPI of referring provider: {npi}.
Please send your report to our office at {faddr}, {fcity_line}, fax {fphone}.

Kind regards,

{dr2_full}, DO
""",
    """Dear {pt_formal},

We received your claim for services on {fdate} (claim no. {facct}). Your plan, member id {fmember}, covered $412.60 of the $1,180.00 billed. Patient account {facct} shows a remaining balance of $96.14.
If you wish to pay by card, reply to this letter or call the number on your statement. Questions about this claim: {fphone}.
Billing Department, Lakeshore Health
""",
    """PRIOR AUTHORIZATION REQUEST
Member: {pt_upper}     Member DOB: {fdob}
Subscriber ID: {fmember}     Group: {group}
Requesting provider: {dr_full}, MD     NPI: {npi}     DEA: {dea}
Medication: {drug} {dose} {freq}. Diagnosis {icd}.
Member address: {faddr}
{fcity_line}
Contact: {fphone}
""",
    """Progress note {fdate}
S: {fage90} {sex} seen for follow-up. Lives at home; {relation} ({rel_full}) helps with meds.
O: {vital}, {vital}. {lab}.
A/P: {icd} stable. Continue {drug} {dose} {freq}. Pacemaker (S/N {serial}) check due {fdate}.
Electronically signed: {dr_upper}, MD {fdate} {time}
""",
    """Transfer note: Accepting physician {dr_full} at {city} General. Pt {pt_lastfirst}, {fage90}, MRN: {fmrn}; medical record number for this encounter is {fmrn}. DOA {fdate}. Will transport by ambulance, plate {plate}.
""",
    """Billing dispute correspondence
From: {rel_full} <{email}>
Sent: {fdate}
I am writing about my father {pt_full}'s statement, acct {facct}. He died on {fdate} at age {age90} and the charges after that date are in error. His Medicare number is {mbi}. Please call me on {world_phone} or {fphone}.
""",
    """Pharmacy intervention: prescriber {dr_formal} (DEA {dea}, NPI {npi}) contacted re {drug} {dose} {freq} dose for {pt_full}, born {fdob}. Pt phone {fphone}.
""",
    """Hospice admission
Patient: {pt_full}, {fage90}. Primary caregiver: {relation} {rel_full}, {fphone}.
Address: {faddr}, {fcity_line}. Medicaid #: {fmember}.
Dx: {icd}. DNR/DNI confirmed {fdate}. Chaplain visit requested.
""",
    """Radiology addendum: comparison made with outside study for {pt_upperlastfirst} (MRN {fmrn}), performed {fdate} at {city} Imaging. Implant card lists device serial no. {serial}. Findings discussed with Dr. {dr_last} by phone at {time}.
""",
    """UK referral
NHS number: {nhs}
{pt_full}, {uk_addr}
Date of birth {fdob}, telephone {world_phone}
NI no. {fnino}
Referred by {dr_full} (GMC {lic}) for {complaint}.
""",
    """Out-of-network claim for {pt_full}, a visitor from {eu_city}: passport {passport}, European health card, refund to IBAN {iban}. Contact {world_phone}, {email}.
""",
)

GENERAL = (
    """NEW HIRE ONBOARDING FORM
EMPLOYEE NAME: {emp_upper}
PREFERRED NAME: {emp_first}
DATE OF BIRTH: {fdob}
SOCIAL SECURITY NO.: {ssn}
HOME ADDRESS: {faddr}, {fcity_line}
PHONE: {fphone}
EMERGENCY CONTACT: {rel_upper} ({relation}) {fphone}
DIRECT DEPOSIT: routing {routing}, account {facct}
""",
    """Onboarding checklist for {emp_full}
[x] I-9 verified (driver's license {dl})
[x] laptop issued, serial {serial}
[ ] badge photo
Manager: {dr_full}. Start date {fdate}.
""",
    """Subject: Re: refund for order 55-1930
Hi {pt_first},

Thanks for your patience. I've refunded the charge to the card you used ({fcc}). It can take 5-10 business days. For anything else reply here or call us at {world_phone}.

Cheers,
{agent_first}
Customer Support, Finch Home
""",
    """Support ticket 88213 (priority normal)
Requester: {pt_lower} <{email}>
Message: "hi my name is {pt_lower}, my account {facct} is locked after I changed my address to {faddr}, {fcity_line}. my phone is {fphone}"
Assignee: {agent_full}
""",
    """hey {rel_lowerfirst} its {pt_lowerfirst}, landed in {eu_city}! new number {world_phone}. can u send me the IBAN again? i have {iban} but not sure thats right""",
    """Tenant screening summary: applicant {pt_upper}, DOB {fdob}, current address {address_block}. Prior landlord {rel_full} ({fphone}) reports on-time rent. Vehicle: {car}, Plate: {plate}.""",
    """Employee relocation (HR)
Name: {emp_full}
Moving from {uk_city} to {eu_city}
UK National Insurance: {fnino}
German tax ID (Steuer-IdNr.): {steuer}
Dutch BSN: {bsn}
New bank account: {iban}
""",
    """Insurance enrollment confirmation
Dear {pt_formal},
Your enrollment is complete. Member ID # {fmember} (group {group}). Your ID cards will be mailed to:
{address_block}
Questions? Call {fphone} (TTY 711).
""",
    """Lost and found report: wallet found in lobby with a card for {pt_upper}, card no. {fcc}, exp {exp}, and a driver license {dl}. Owner contacted at {fphone}.""",
    """Meeting notes {fdate}: {emp_full} will cover for {agent_full} while she is out. Escalations to {agent_first} go to {email} or {world_phone}.""",
    """Visa application: passport no {passport}, issued {fdate}, holder {pt_upper}, born {fdob} in {country}. Spanish NIE {nie}; Polish PESEL {pesel}.""",
    """Volunteer driver log: drove {pt_full} ({fage90}) to {city} dialysis on {fdate}. Car plate {plate}. Pick-up address {faddr}.""",
)

BENIGN = (
    """ED course: {time} arrived, ESI 3. {vital}, {vital}. EKG NSR 78, no STE. CXR neg. {lab}, {lab}, {lab}. Given {drug} {dose} IV at {time} and {drug} {dose} PO. CPT {cpt}, {cpt}. Dx {icd}. Moved to {room}.""",
    """MAR: {drug} {dose} {freq} - given {time}; {drug} {dose} {freq} - held (SBP 92); {drug} {dose} {freq} - given {time}. Insulin sliding scale: BG 212 -> 4 units. Pain 6/10 -> 3/10 after 45 min.""",
    """Vaccine administered: influenza 0.5 mL IM L deltoid, lot {lot}, NDC {ndc}. Tdap lot {lot}. Observed 15 min, no reaction. {vital}.""",
    """Lab panel: Na 131 (L), K 5.4 (H), Cl 99, CO2 21, BUN 38, Cr 2.14, Glu 247, Ca 8.6, Mg 1.7, Phos 4.9. CBC: WBC 14.2, Hgb 9.1, Hct 27.8, Plt 412. {lab}. ABG 7.31/48/62/24 on 4L NC.""",
    """Wound care {room}: stage 3 sacral ulcer 4.5 x 3.2 x 0.8 cm, 20% slough. Cleansed with NS, packed with 1/4 inch iodoform, foam dressing. Change q48h. Turn q2h. Braden 13.""",
    """Telemetry: sinus tach 104-118 overnight, 3 runs NSVT (max 7 beats) at {time} and {time}. K 3.3 repleted 40 mEq PO x2; Mg 1.6 repleted 2 g IV. QTc 486 ms. {icd}, {icd}.""",
    """Ventilator settings at {time}: AC/VC, Vt 450 mL, RR 18, PEEP 10, FiO2 0.6. ABG 7.38/41/88. Propofol 30 mcg/kg/min, fentanyl 50 mcg/h. Cuff leak present. Plan SBT at 0600 in {room}.""",
    """Orders: CBC, BMP, lactate, blood cultures x2, UA with reflex, CXR 2 view (CPT {cpt}). Start {drug} {dose} {freq}; {drug} {dose} {freq}. Reassess in {dur}. Code status full.""",
)
SYNTH = FreshSynth
