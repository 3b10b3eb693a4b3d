"""Held-out split: different templates, names and places, generated with another seed. Measure only."""
from synth import Pools

POOLS = Pools(
    first_names=("Thomas", "Margaret", "Charles", "Barbara", "Joseph", "Susan", "Daniel", "Dorothy", "Mark", "Helen",
                 "Alejandro", "Valentina", "Youssef", "Mariam", "Jian", "Xiu", "Kenji", "Sakura", "Nikolai", "Svetlana",
                 "Arjun", "Kavya", "Chidi", "Ngozi", "Ethan", "Ava", "Mason", "Harper", "Gabriel", "Zoe", "Diego",
                 "Camila", "Hassan", "Yasmin", "Lars", "Astrid", "Antoine", "Manon", "Francesca", "Luca", "Zainab",
                 "Emeka", "Declan", "Aoife", "Vikram", "Meera", "Quang", "Hoa", "Rafael", "Elena", "Gertrude",
                 "Bartholomew", "Winifred", "Cornelius"),
    last_names=("Taylor", "Thomas", "Roberts", "Perez", "Sanchez", "Ramirez", "Tran", "Park", "Shah", "Wang", "Adeyemi",
                "Boateng", "Fitzgerald", "Gallagher", "Wisniewski", "Horvat", "Becker", "Fischer", "Esposito", "Romano",
                "Moreau", "Girard", "Khoury", "Saleh", "Suzuki", "Watanabe", "Gupta", "Reddy", "Sokolova", "Volkov",
                "Johansson", "Nielsen", "Torres", "Flores", "Rivera", "Mitchell", "Carter", "Phillips", "Evans",
                "Turner", "Collins", "Stewart", "Morris", "Rogers", "Reed", "Cook", "Bailey", "Cooper", "Richardson",
                "Ward", "Baker-Holt", "McAllister", "Van der Berg", "De la Cruz"),
    us_places=(("Springfield", "IL"), ("Madison", "WI"), ("Burlington", "VT"), ("Spokane", "WA"), ("Tulsa", "OK"),
               ("Savannah", "GA"), ("Boise", "ID"), ("Lexington", "KY"), ("Richmond", "VA"), ("Providence", "RI"),
               ("Hartford", "CT"), ("Des Moines", "IA"), ("Little Rock", "AR"), ("Anchorage", "AK"), ("Honolulu", "HI"),
               ("Reno", "NV"), ("Wichita", "KS"), ("Knoxville", "TN"), ("Toledo", "OH"), ("Syracuse", "NY"),
               ("Duluth", "MN"), ("Ann Arbor", "MI"), ("Scranton", "PA")),
    streets=("Birchwood", "Chestnut", "Willow", "Magnolia", "Lincoln", "Jefferson", "Franklin", "Harbor", "Meadow",
             "Orchard", "Prospect", "Spring", "Summit", "Valley", "Walnut", "Martin Luther King Jr", "Old Mill"),
    street_suffixes=("Circle", "Parkway", "Pkwy", "Trail", "Hwy", "Square", "Crescent", "Pike", "Street", "Avenue",
                     "Road", "Drive", "Ct", "Blvd.", "Ave."),
    uk_cities=("Glasgow", "Cardiff", "Liverpool", "Sheffield", "Edinburgh", "Belfast"),
    eu_cities=("Seville", "Turin", "Marseille", "Hamburg", "Rotterdam", "Gdansk", "Valencia", "Cologne"),
    email_domains=("protonmail.com", "icloud.com", "hotmail.co.uk", "stlukes-med.org", "fastmail.fm", "web.de"),
    web_hosts=("stlukes-med.org", "northvalleyclinic.com", "myhealthrecord.net", "riverbend-hospital.org"),
)

CLINICAL = (
    """SOAP NOTE ({date})
S: {pt_full} ({pt_first} prefers her first name) reports {complaint} x {dur}. Her {relation}, {rel_full}, accompanies her today.
O: {vital}; {vital}; {lab}.
A: likely viral syndrome; r/o pneumonia.
P: {drug} {dose} {freq}. Return precautions reviewed. Next appt {date} with {dr_full}, NP.
Chart #: {mrn}
""",
    """RADIOLOGY REPORT
Exam: CT chest with contrast     MRN: {mrn}
Patient name: {pt_lastfirst}     Date of birth: {dob}     Sex: F
Ordering provider: {dr_formal} (NPI {npi})
Findings: No pulmonary embolism. Small right pleural effusion.
Electronically signed by {dr2_full}, MD on {date}.
""",
    """Home health visit {date}. Client {pt}, {age90} years old, lives alone at {addr} in {city}, {state}. Granddaughter {rel_full} checks in daily, phone {phone}. Medicaid ID {hpid}. Med box filled: {drug} {dose} {freq}; {drug} {dose} {freq}.""",
    """CLAIM FORM (CMS-1500 excerpt)
1a. Insured's ID number: {hpid}
2. Patient's name: {pt_lastfirst}
3. Birth date: {dob}
5. Patient's address: {addr}, {city_line}, tel {phone}
11. Insured's policy group: {group}
17b. NPI of referring provider: {npi}
25. Federal tax ID / SSN: {ssn}
26. Patient's account no.: {acct}
24A. Dates of service: {date} to {date}
""",
    """Pharmacy refill call: {pt_first} {pt_last} (DOB {dob}) requests early refill of {drug} {dose}. Prescriber {dr_full} DEA {dea}, medical license {lic}. Callback number {phone}. Verified address on file {addr}.""",
    """Patient portal message from {pt} <{email}>
Sent: {date}
"Hi, this is {pt_first}. My insulin pump (serial {serial}) keeps alarming. The app shows device id {imei}. Can someone call me at {phone}?"
Routed to diabetes educator {nurse_full}.
""",
    """DEATH NOTE
Called to bedside at 03:12. {pt_full}, {age90} y.o., MRN {mrn}, pronounced dead on {dod} by {dr_full}. Family ({relation} {rel_full}) notified by phone at {phone}. Medical examiner not required.""",
    """Accident intake (workers comp)
Injured worker: {pt}    SSN: {ssn}
Employer: Riverside Logistics, {addr}, {city_line}
Injury date: {date}. Forklift asset tag {serial}; company vehicle VIN {vin}, tag {plate}.
Adjuster: {dr2_full}, {email}
""",
    """Cashier desk note: card declined for {pt_full}. PAN {cc}, expiry {exp}, security code {cvv}. Swipe data (do not store!): {track2}. Retried on account {acct}.""",
    """GP letter
To: Dr. {dr_last}, {uk_city} Royal Infirmary
Patient: {pt_full}   NHS No: {nhs}   DOB: {dob}
{uk_addr}
This {age}-year-old {sex} was seen in clinic for {complaint}. NINO {nino} provided for the fit note.
Kind regards, {dr2_full} (GMC {lic})
""",
    """Cross-border care request: {pt}, Italian resident in {eu_city}, codice fiscale {cf}, passport {passport}. Insurance reimbursement to {iban}. Contact via {intl_phone} or {email}. Seen at {url}.""",
    """Remote monitoring alert {date}: implant {udi} (patient {pt_full}) uploaded from gateway {ip}, bluetooth address {mac}. Review by Dr. {dr_last} requested.""",
    """Admission note: Mr. {pt_last} is a {age}-year-old {sex} admitted on {adm} from {city} for {complaint}. Wife {rel_first} at bedside. Medicare beneficiary identifier {mbi}. Home address {addr}, {city_line}. Discharge planned for {dis}.""",
)

GENERAL = (
    """RENTAL APPLICATION
Applicant: {pt}
Current address: {addr}, {city_line}
Date of birth: {dob}    Social Security #: {ssn}
Employer phone: {phone}
Reference: {rel_full}, {email}
""",
    """Support chat transcript
Agent: Thanks for contacting us, may I have your name?
Customer: {pt_full}
Agent: And the email on the account?
Customer: {email}
Customer: my card ending... actually here's the full number {cc} exp {exp}
Agent: Please don't share your CVV ({cvv}) here. I've noted your address {addr}, {city} {zip}.
""",
    """Wire transfer instruction
Beneficiary: {pt_full}
Beneficiary IBAN: {iban}
Beneficiary address: {eu_city}
Ordering customer: {rel_full}, passport {passport}
""",
    """Dear {pt_first},

Thank you for registering for the Data Protection Summit in {eu_city}. Your badge will read "{pt_full}". We will send updates to {email}; call {intl_phone} for help.

Best regards,
{rel_full}
Events team
""",
    """GDPR subject access request: I, {pt_full}, resident at {uk_addr}, NI number {nino}, ask for a copy of all data you hold about me, including records linked to my NHS number {nhs}.""",
    """School enrollment form - student {rel_full}; parent/guardian {pt}; home {addr}, {city}, {state} {zip}; parent mobile {phone}; parent email {email}.""",
    """Expat tax file: {pt_full}, Steuerliche Identifikationsnummer {steuer}, Spanish NIE {nie}, Polish PESEL {pesel}, Dutch citizen service number {bsn}, French NIR {nir}. Born {dob}.""",
    """Network audit: workstation owned by {pt_full} at {ip} (MAC {mac}), also seen at {ip}. Asset serial {serial}. Browser history includes {url}.""",
    """Parking permit renewal for {pt_full}: plate {plate}, vehicle identification number {vin}, driver's licence {dl}, address {addr}, {city_line}.""",
    """Hi {rel_first}, it's {pt_first} - new number is {phone}, and I moved to {city}. DNI for the bank form is {dni}.""",
)

BENIGN = (
    """Operative findings: inflamed appendix without perforation. Estimated blood loss 20 mL. Specimen sent to pathology. Closure with 4-0 Monocryl. {drug} {dose} {freq} for {dur} post-op.""",
    """Heart failure clinic: NYHA class II. {vital}. {lab}, {lab}. Continue {drug} {dose} {freq} and {drug} {dose} {freq}. Daily weights; call if gain over 2 kg in {dur}. Diagnoses {icd}, {icd}.""",
    """Anticoagulation: {lab}. Hold {drug} tonight, resume {dose} {freq} tomorrow. Recheck INR in {dur}. Bleeding precautions reviewed; no falls reported in {dur}.""",
    """Discharge instructions: no driving for {dur}. Walk 10 minutes three times a day. Take {drug} {dose} {freq} as needed for pain, and {drug} {dose} {freq}. Keep the incision dry for 48 hours.""",
    """Stroke scale: NIHSS 2 (mild facial droop, drift). Babinski sign absent. Cushing triad not present. Bell's palsy considered but forehead involved. Start {drug} {dose} {freq}; {lab}.""",
    """ICU flowsheet summary: {vital}, {vital}, {vital}. Vent: PRVC, TV 420, PEEP 8, FiO2 40%. Sedation with propofol 20 mcg/kg/min. {lab}; {lab}. Plan SBT in AM.""",
)
