"""Dev split: the templates the detector is tuned on."""
from synth import Pools

POOLS = Pools(
    first_names=("James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "William", "Elizabeth",
                 "Carlos", "Sofia", "Ahmed", "Fatima", "Wei", "Mei", "Hiroshi", "Yuki", "Olga", "Dmitri", "Priya",
                 "Rahul", "Kwame", "Amara", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Chloe", "Mateo", "Isabella",
                 "Omar", "Leila", "Jonas", "Ingrid", "Pierre", "Camille", "Giulia", "Marco", "Aisha", "Tunde", "Sean",
                 "Siobhan", "Raj", "Ananya", "Thanh", "Linh", "Jorge", "Lucia"),
    last_names=("Smith", "Johnson", "Williams", "Garcia", "Martinez", "Rodriguez", "Nguyen", "Kim", "Patel", "Chen",
                "Okafor", "Mensah", "O'Brien", "Murphy", "Kowalski", "Novak", "Schmidt", "Müller", "Rossi", "Bianchi",
                "Dubois", "Lefevre", "Haddad", "Nasser", "Yamamoto", "Tanaka", "Singh", "Sharma", "Ivanova", "Petrov",
                "Andersson", "Larsen", "Fernandez", "Lopez", "Hernandez", "Brown", "Davis", "Wilson", "Anderson",
                "Thompson", "Moore", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "Allen"),
    us_places=(("Boston", "MA"), ("Chicago", "IL"), ("Houston", "TX"), ("Phoenix", "AZ"), ("Seattle", "WA"),
               ("Denver", "CO"), ("Atlanta", "GA"), ("Miami", "FL"), ("Portland", "OR"), ("Nashville", "TN"),
               ("Columbus", "OH"), ("Austin", "TX"), ("Baltimore", "MD"), ("Milwaukee", "WI"), ("Albuquerque", "NM"),
               ("Tucson", "AZ"), ("Fresno", "CA"), ("Omaha", "NE"), ("Raleigh", "NC"), ("Cleveland", "OH")),
    streets=("Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine", "Sunset", "Highland",
             "River", "Church", "Mill", "North Broadway", "West 3rd"),
    street_suffixes=("Street", "St.", "St", "Avenue", "Ave", "Road", "Rd.", "Boulevard", "Blvd", "Lane", "Ln", "Drive",
                     "Dr.", "Court", "Way", "Place", "Terrace"),
    uk_cities=("London", "Manchester", "Leeds", "Bristol", "Nottingham"),
    eu_cities=("Madrid", "Milan", "Lyon", "Berlin", "Amsterdam", "Krakow", "Barcelona", "Munich"),
    email_domains=("gmail.com", "outlook.com", "yahoo.com", "mercyhealth.org", "example.net", "comcast.net"),
    web_hosts=("mercyhealth.org", "myclinic-portal.com", "stjude-regional.org", "carepoint.health"),
)

CLINICAL = (
    """HISTORY AND PHYSICAL
Patient: {pt}    DOB: {dob}    MRN: {mrn}
Date of admission: {adm}
Attending: Dr. {dr_full}

HPI: {pt_first} {pt_last} is a {age}-year-old {sex} who presents with {complaint} for {dur}. Symptoms began after a trip to {city}. Takes {drug} {dose} {freq}.
Social: lives at {addr}, {city_line} with {relation} {rel}. Former smoker, quit 10 years ago.
Exam: {vital}, {vital}. Lungs with bibasilar crackles.
Labs: {lab}, {lab}, {lab}.
Plan: start {drug} {dose} {freq} for {dur}. Follow up with Dr. {dr_last} in 2 weeks. Call {phone} with questions.
""",
    """DISCHARGE SUMMARY
Name: {pt_lastfirst}
MRN {mrn} | Acct# {acct}
Admitted: {adm}   Discharged: {dis}
Diagnoses: {icd}, {icd}
Hospital course: The patient is a {age90}-year-old {sex} admitted with {complaint}. Treated with {drug} {dose} {freq} with improvement. {lab}.
Disposition: home with services. PCP: {dr2_formal}, MD, NPI {npi}. Office phone {phone}, fax {fax}.
Dictated by {dr_full}, MD on {date}.
""",
    """PATIENT REGISTRATION FORM
Last name: {pt_last}
First name: {pt_first}
Date of birth: {dob}
SSN: {ssn}
Address: {addr}
City/State/ZIP: {city_line}
Home phone: {phone}
Email: {email}
Primary insurance: Blue Cross PPO   Member ID: {hpid}   Group #: {group}
Emergency contact: {rel} ({relation}) {phone}
Driver's license: {dl}
""",
    """STATEMENT OF ACCOUNT
Guarantor: {pt}
Account number: {acct}
Date of service: {date}
CPT 99214 office visit $185.00; CPT 85025 CBC $32.00. Insurance paid $150.00.
Balance due: $67.00. Paid today by card {cc}, exp {exp}, CVV {cvv}.
Cardholder name: {pt_full}. Billing ZIP {zip}.
""",
    """PRESCRIPTION
Patient: {pt}   DOB {dob}
Address: {addr}, {city_line}
Rx: {drug} {dose} {freq}, dispense #30, refills 2.
Prescriber: Dr. {dr_full}   DEA# {dea}   NPI: {npi}   State license {lic}
Pharmacy callback {phone}
""",
    """Device clinic note {date}
Pacemaker interrogation for {pt} (MRN {mrn}). Device: dual-chamber pacemaker, serial number {serial}. UDI {udi}.
Home monitor MAC address {mac}, transmitting normally. Battery 8.5 years. {vital}. Underlying rhythm sinus at 72.
Next remote check on {date}. Seen with Dr. {dr_last}.
""",
    """Nursing progress note - {date} 14:30
Pt {pt_last}, aged {age90}, resting comfortably. {vital}, {vital}. Given {drug} {dose} for pain.
Daughter {rel} called from {phone} asking about discharge; updated per patient consent.
Medicare MBI {mbi}. Fall precautions in place. - {nurse_full}, RN
""",
    """ED TRIAGE
{pt}, {age} y/o {sex}, brought in by EMS after a motor vehicle collision on {date} near {city}.
Vehicle: {car}, license plate {plate}, VIN {vin}. Restrained driver, airbag deployed.
{vital}, {vital}. GCS 15. Complains of neck pain. Insurance card: member ID {hpid}.
""",
    """Telehealth visit note
Visit date: {date}. Platform link: {url}
Patient {pt} connected from IP address {ip}; identity verified with date of birth {dob}.
Reports {complaint} for {dur}. Advised {drug} {dose} {freq}. Summary sent to {email}.
""",
    """Card terminal exception log (front desk)
Payment for account {acct} failed, raw swipe captured:
Track 1: {track1}
Track 2: {track2}
Operator: {nurse_full}. Patient {pt} asked to pay by phone instead.
""",
    """Dear Dr {dr_last},

Re: {pt}, DOB {dob}, NHS number {nhs}
Address: {uk_addr}

Thank you for referring this {age}-year-old {sex} with {complaint}. National Insurance number {nino} on file for the benefits form.
Examination: {vital}. I have started {drug} {dose} {freq}. Please review in {dur}.

Yours sincerely,
{dr2_full}
Consultant Cardiologist, tel {intl_phone}
""",
    """International patient intake
Name: {pt}. Nationality: Spanish. DNI {dni}. Passport number {passport}.
Temporary address in {eu_city}. Mobile {intl_phone}.
Reimbursement to IBAN {iban}. Previous care in {country}.
Allergies: penicillin (rash). Current meds: {drug} {dose} {freq}.
""",
    """OPERATIVE CONSENT
I, {pt_full}, born {dob}, consent to laparoscopic cholecystectomy by Dr. {dr_full} on {date}.
Witness: {nurse_full}. Patient ID band checked against MRN {mrn}.
""",
)

GENERAL = (
    """From: {email}
To: {email2}
Subject: new address

Hi {rel_first},

We finally moved! The new place is {addr}, {city_line}. My cell is still {phone}.
Come visit in the spring.

Love,
{pt_first}
""",
    """JOB APPLICATION
Full name: {pt}
Date of birth: {dob}
National Insurance number: {nino}
Passport no.: {passport}
Address: {uk_addr}
Telephone: {intl_phone}
Bank details for payroll: {iban}
""",
    """{city}, {date}

Dear Mr. {rel_last},

I am writing on behalf of my mother, {pt_full}, regarding the lease at {addr}. Please contact me at {email} or {phone}.

Sincerely,
{rel2_full}
""",
    """hey its {pt_first}!! can u book the hotel for me, card is {cc} exp {exp} cvv {cvv}. thx""",
    """Employee record (HR office in {eu_city})
Employee: {pt}
Codice fiscale: {cf}
Home: {eu_city}
Salary account IBAN {iban}
Manager: {dr_full}
""",
    """Dossier locataire
Name: {pt}, numéro de sécurité sociale (NIR) {nir}, telephone {intl_phone}.
Previous address in {eu_city}. Employer contact: {email}.
""",
    """Onboarding checklist for {pt_full}: Steuer-ID {steuer}; BSN {bsn} (Dutch payroll); PESEL {pesel} for the {eu_city} team. Start date {date}.""",
    """IT ticket #4821: user {pt} ({email}) cannot log in from {ip}. Laptop serial {serial}, Wi-Fi MAC {mac}. Phone IMEI {imei}. Contact {phone}.""",
    """Bill of sale: seller {pt_full}, driver license {dl}, sells {car} with VIN {vin} and plate {plate} to buyer {rel_full} on {date}.""",
    """Customer profile: {pt}, SSN {ssn}, lives in {city}, {state}. Checking account {acct}, routing number {routing}.""",
    """Guest list update: {pt_full} and {rel_full} will arrive from {country}. Reach {rel_first} at {email}.""",
)

BENIGN = (
    """Assessment and plan: Type 2 diabetes mellitus ({icd}), suboptimally controlled. {lab}. Increase {drug} to {dose} {freq}. Recheck in {dur}. Hypertension ({icd}): {vital}, continue {drug} {dose} {freq}.""",
    """Medication reconciliation:
- {drug} {dose} {freq}
- {drug} {dose} {freq}
- {drug} {dose} {freq}
- {drug} {dose} {freq}
No known drug allergies. Patient counseled on side effects.""",
    """Vitals: {vital}, {vital}, {vital}, {vital}. Labs: {lab}, {lab}, {lab}, {lab}. No acute distress. Heart regular rate and rhythm, no murmurs. Abdomen soft, non-tender.""",
    """Post-op day 2. Pain controlled with {drug} {dose} {freq}. Tolerating diet. Drain output 30 mL over 24 hours. Continue {drug} for {dur}. Ambulating with physical therapy twice daily.""",
    """Differential includes Parkinson's disease versus essential tremor; Apgar score not applicable. Consider Hodgkin lymphoma work-up if B symptoms persist for {dur}. Glasgow Coma Scale 15. {lab}.""",
    """Sepsis bundle: blood cultures x2, lactate {lab}, start {drug} {dose} and {drug} {dose} within 1 hour. Reassess volume status after 30 mL/kg bolus. Code status: full code.""",
    """Patient education: take {drug} {dose} {freq} with food, avoid alcohol, report dizziness or swelling. Call the clinic if symptoms persist more than {dur}. Follow-up in {dur}.""",
)
