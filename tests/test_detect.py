"""The detector finds each identifier family, rejects bad check digits and leaves clinical prose alone."""
from __future__ import annotations

import pytest

from policies.detect import ENTITY_TYPES, Detector
from policies.findings import Finding


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


def found(detector: Detector, text: str) -> set[tuple[str, str]]:
    return {(f.entity_type, text[f.start:f.end]) for f in detector.analyze(text)}


FAMILIES = [
    ("Patient: Maria Gonzalez-Reyes was seen today.", "PERSON", "Maria Gonzalez-Reyes"),
    ("Follow up with Dr. Okonkwo next week.", "PERSON", "Okonkwo"),
    ("She lives at 4417 Birchwood Lane, Apt 3C, Spokane, WA 99201.", "STREET_ADDRESS", "4417 Birchwood Lane, Apt 3C"),
    ("She lives at 4417 Birchwood Lane, Spokane, WA 99201.", "ZIP_CODE", "99201"),
    ("She lives at 4417 Birchwood Lane, Spokane, WA 99201.", "LOCATION", "Spokane, WA"),
    ("Date of birth: 03/14/1931. Admitted 2024-02-29.", "DATE_TIME", "03/14/1931"),
    ("Discharged on March 3, 2024 to home.", "DATE_TIME", "March 3, 2024"),
    ("The patient is a 94-year-old widow.", "AGE_OVER_89", "94"),
    ("Call her at (617) 555-0134 or fax 617.555.0199.", "PHONE_NUMBER", "617.555.0199"),
    ("Send results to j.doe@stlukes-med.org today.", "EMAIL_ADDRESS", "j.doe@stlukes-med.org"),
    ("SSN: 219-09-9998 on the intake sheet.", "US_SSN", "219-09-9998"),
    ("MRN: 00482913, bed 4.", "MEDICAL_RECORD_NUMBER", "00482913"),
    ("Medicare MBI 1EG4-TE5-MK73 verified.", "HEALTH_PLAN_ID", "1EG4-TE5-MK73"),
    ("Member ID: XQH847291034, group 22031.", "HEALTH_PLAN_ID", "XQH847291034"),
    ("Account number 884120937 is past due.", "ACCOUNT_NUMBER", "884120937"),
    ("State license MD448213 expires soon.", "LICENSE_NUMBER", "MD448213"),
    ("Prescriber NPI 1234567893 signed.", "NPI", "1234567893"),
    ("DEA# AB1234563 on the script.", "DEA_NUMBER", "AB1234563"),
    ("The car, VIN 1M8GDM9AXKP042788, was towed.", "VEHICLE_ID", "1M8GDM9AXKP042788"),
    ("Chassis stamped 1M8GDM9AXKP042788 was towed.", "VEHICLE_ID", "1M8GDM9AXKP042788"),
    ("Seen leaving in a sedan with license plate 7ABC123.", "VEHICLE_ID", "7ABC123"),
    ("Pacemaker serial number PJN829104H interrogated.", "DEVICE_ID", "PJN829104H"),
    ("Home monitor MAC 00:1A:2B:3C:4D:5E online.", "DEVICE_ID", "00:1A:2B:3C:4D:5E"),
    ("Portal: https://portal.example-clinic.org/patient/88123 for results.", "URL",
     "https://portal.example-clinic.org/patient/88123"),
    ("Login from 203.0.113.54 flagged.", "IP_ADDRESS", "203.0.113.54"),
    ("Card 4111 1111 1111 1111 on file.", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Card 4111-1111-1111-1111 on file.", "CREDIT_CARD", "4111-1111-1111-1111"),
    ("Card 4111111111111111 on file.", "CREDIT_CARD", "4111111111111111"),
    ("Amex 3782 822463 10005 on file.", "CREDIT_CARD", "3782 822463 10005"),
    ("Card 5555555555554444 exp 09/27 CVV 123.", "CARD_CVV", "123"),
    ("Card 5555555555554444 exp 09/27 CVV 123.", "CARD_EXPIRY", "09/27"),
    ("Swipe: %B4111111111111111^DOE/JANE^2709101000000000000?", "CARD_TRACK_DATA",
     "%B4111111111111111^DOE/JANE^2709101000000000000?"),
    ("Swipe: ;4111111111111111=27091010000000000?", "CARD_TRACK_DATA", ";4111111111111111=27091010000000000?"),
    ("Refund to GB82 WEST 1234 5698 7654 32 please.", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ("Refund to DE89370400440532013000 please.", "IBAN_CODE", "DE89370400440532013000"),
    ("NHS number 943 476 5919 confirmed.", "UK_NHS", "943 476 5919"),
    ("NI number JH 12 34 56 C on the form.", "UK_NINO", "JH 12 34 56 C"),
    ("DNI 12345678Z presented.", "EU_NATIONAL_ID", "12345678Z"),
    ("Codice fiscale RSSMRA85T10A562S on file.", "EU_NATIONAL_ID", "RSSMRA85T10A562S"),
    ("NIR 2 55 08 14 168 025 38 on the card.", "EU_NATIONAL_ID", "2 55 08 14 168 025 38"),
    ("Steuer-ID 86095742719 for payroll.", "EU_NATIONAL_ID", "86095742719"),
    ("BSN 111222333 for the Dutch office.", "EU_NATIONAL_ID", "111222333"),
    ("PESEL 44051401359 for the Warsaw office.", "EU_NATIONAL_ID", "44051401359"),
    ("Passport number 533380006 checked at the desk.", "PASSPORT", "533380006"),
]


@pytest.mark.parametrize(("text", "entity_type", "value"), FAMILIES, ids=[f"{t}:{v}" for _, t, v in FAMILIES])
def test_each_identifier_family_is_detected(detector: Detector, text: str, entity_type: str, value: str) -> None:
    assert (entity_type, value) in found(detector, text)


def test_families_cover_the_whole_vocabulary() -> None:
    """UNKNOWN_IDENTIFIER has no shape of its own: the recall-first layer finds it (test_detect_generalise.py)."""
    assert {entity for _, entity, _ in FAMILIES} == set(ENTITY_TYPES) - {"UNKNOWN_IDENTIFIER"}


BAD_CHECK_DIGITS = [
    ("Card 4111 1111 1111 1112 on file.", "CREDIT_CARD"),
    ("Card 4111111111111112 on file.", "CREDIT_CARD"),
    ("NHS number 943 476 5918 confirmed.", "UK_NHS"),
    ("Refund to GB83 WEST 1234 5698 7654 32 please.", "IBAN_CODE"),
    ("Prescriber NPI 1234567890 signed.", "NPI"),
    ("DEA# AB1234564 on the script.", "DEA_NUMBER"),
    ("Chassis stamped 1M8GDM9A1KP042788 was towed.", "VEHICLE_ID"),  # a valid one is found unlabelled (below)
    ("DNI 12345678A presented.", "EU_NATIONAL_ID"),
    ("Codice fiscale RSSMRA85T10A562T on file.", "EU_NATIONAL_ID"),
    ("NIR 2 55 08 14 168 025 39 on the card.", "EU_NATIONAL_ID"),
    ("BSN 111222334 for the Dutch office.", "EU_NATIONAL_ID"),
    ("PESEL 44051401358 for the Warsaw office.", "EU_NATIONAL_ID"),
    ("Steuer-ID 86095742718 for payroll.", "EU_NATIONAL_ID"),
    ("SSN: 000-12-3456 on the intake sheet.", "US_SSN"),
    ("SSN: 666-12-3456 on the intake sheet.", "US_SSN"),
]


@pytest.mark.parametrize(("text", "entity_type"), BAD_CHECK_DIGITS, ids=[t for t, _ in BAD_CHECK_DIGITS])
def test_invalid_check_digits_are_rejected(detector: Detector, text: str, entity_type: str) -> None:
    assert entity_type not in {f.entity_type for f in detector.analyze(text)}


BENIGN = [
    "Assessment: type 2 diabetes mellitus (E11.9), HbA1c 8.2%. Increase metformin to 1000 mg BID. Recheck in 3 months.",
    "Vitals: BP 132/84, HR 88, RR 16, T 37.1 C, SpO2 97% on RA. Labs: Na 138, K 4.1, Cr 1.1, WBC 7.4, Hgb 12.9.",
    "Medications: lisinopril 20 mg daily, atorvastatin 40 mg at bedtime, Lasix 40 mg IV BID x 3 days, Zofran 4 mg q6h PRN.",
    "Differential includes Parkinson's disease versus essential tremor. Glasgow Coma Scale 15. Babinski sign absent.",
    "Post-op day 2: pain controlled with Tylenol 1 g q8h. Continue Lovenox 40 mg daily for 10 days. Ambulating twice daily.",
    "Continue Eliquis 5 mg BID; hold Toprol XL 25 mg if HR < 55. ICD-10 I48.91, I10. Follow up in 2 weeks.",
]


@pytest.mark.parametrize("text", BENIGN)
def test_benign_clinical_text_has_no_findings(detector: Detector, text: str) -> None:
    assert [(f.entity_type, text[f.start:f.end]) for f in detector.analyze(text)] == []


def test_durations_and_frequencies_are_not_dates(detector: Detector) -> None:
    text = "Take amoxicillin 500 mg TID for 7 days, daily weights, recheck in 3 days, symptoms for two weeks."
    assert "DATE_TIME" not in {f.entity_type for f in detector.analyze(text)}


def test_track_data_wins_over_the_card_number_inside_it(detector: Detector) -> None:
    text = "raw swipe %B4111111111111111^DOE/JANE^2709101000000000000? captured"
    assert [f.entity_type for f in detector.analyze(text)] == ["CARD_TRACK_DATA"]


def test_findings_are_sorted_typed_and_never_overlap(detector: Detector) -> None:
    text = ("Patient: John A. Smith  DOB: 02/03/1941  MRN: 5512093\nAddress: 77 Harbor Street, Boston, MA 02110\n"
            "Phone 617-555-0188. Dr. Lee wrote: Mr. Smith, a 91 y/o man, paid with 5555 5555 5555 4444 exp 10/28.")
    findings = detector.analyze(text)
    assert findings == sorted(findings)
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:]))
    assert {f.entity_type for f in findings} <= set(ENTITY_TYPES)
    assert all(isinstance(f, Finding) and 0 < f.score <= 1 and f.recognizer for f in findings)
    assert ("PERSON", "Smith") in found(detector, text)  # the later bare surname is found again


def test_a_several_kilobyte_prompt_is_analysed_in_full(detector: Detector) -> None:
    paragraph = ("Nursing note: patient resting, vitals stable, tolerating diet, ambulating with a walker. "
                 "Continue current medications and monitor intake and output. ")
    identifiers = [("MEDICAL_RECORD_NUMBER", "MRN {}", "{:08d}"), ("PHONE_NUMBER", "call {}", "617-555-{:04d}"),
                   ("CREDIT_CARD", "card {}", None)]
    parts, expected = [], set()
    for index in range(40):
        parts.append(paragraph)
        entity, template, fmt = identifiers[index % len(identifiers)]
        value = fmt.format(index + 1000) if fmt else "4111 1111 1111 1111"
        parts.append(template.format(value) + ". ")
        expected.add((entity, value))
    text = "".join(parts)
    assert len(text.encode()) > 6000
    findings = detector.analyze(text)
    assert expected <= {(f.entity_type, text[f.start:f.end]) for f in findings}
    assert len([f for f in findings if f.entity_type in {e for e, _, _ in identifiers}]) == 40


def test_analyze_many_matches_analyze(detector: Detector) -> None:
    texts = ["MRN: 00482913, seen by Dr. Patel.", "", "Vitals stable, continue plan.", "Card 4111 1111 1111 1111."]
    assert detector.analyze_many(texts) == [detector.analyze(t) for t in texts]


def test_non_text_input_is_refused(detector: Detector) -> None:
    with pytest.raises(TypeError, match="must be str"):
        detector.analyze(b"MRN 12345678")  # type: ignore[arg-type]


def test_finding_json_carries_no_text(detector: Detector) -> None:
    text = "SSN 219-09-9998"
    [finding] = detector.analyze(text)
    assert finding.as_json() == {"start": 4, "end": 15, "entity_type": "US_SSN", "score": round(finding.score, 4)}


GENERALIZATIONS = [
    # a label some words before its value
    ("17b. NPI of referring provider: 1234567893", "NPI", "1234567893"),
    ("NPI (type 1, individual) 1234567893 on the claim.", "NPI", "1234567893"),
    ("The medical record number for this encounter is 399-89-0912.", "MEDICAL_RECORD_NUMBER", "399-89-0912"),
    ("Med Rec No.: 4294396  Acct: 7448577953", "MEDICAL_RECORD_NUMBER", "4294396"),
    ("SOCIAL SECURITY NO.: 512 44 4451", "US_SSN", "512 44 4451"),
    ("We received your claim (claim no. 385-519631) today.", "ACCOUNT_NUMBER", "385-519631"),
    ("Subscriber ID: W2883357772     Group: 729905", "HEALTH_PLAN_ID", "729905"),
    ("German tax ID (Steuer-IdNr.): 86 095 742 719", "EU_NATIONAL_ID", "86 095 742 719"),
    # names in capitals, with an initial, in lower case after a strong cue, after "for"/"from"
    ("EMPLOYEE NAME: ESPERANZA DELACROIX\nPREFERRED NAME: Esperanza", "PERSON", "ESPERANZA DELACROIX"),
    ("ED TRIAGE 2115\nKAVANAGH, CALEB D  99 years of age", "PERSON", "KAVANAGH, CALEB D"),
    ("Electronically signed: HAZEL IWASAKI, MD 9/28/21", "PERSON", "HAZEL IWASAKI"),
    ("comparison made with outside study for IBARRA, OLUWASEUN O (MRN 8160536)", "PERSON", "IBARRA, OLUWASEUN O"),
    ("Attending Physician: A. Blackwood, MD", "PERSON", "A. Blackwood"),
    ('Message: "hi my name is reuben blackwood, my account is locked"', "PERSON", "reuben blackwood"),
    ("Cashier desk note: card declined for Declan Becker. Retried later.", "PERSON", "Declan Becker"),
    ("Onboarding checklist for Leyla Mukherjee\n[x] badge issued", "PERSON", "Leyla Mukherjee"),
    # names whose lower-case particle ("dos", "ni", "van") sits between their words, found whole
    ("Patient: Ana dos Santos, seen today.", "PERSON", "Ana dos Santos"),
    ("pt name: Aoife ni Bhriain", "PERSON", "Aoife ni Bhriain"),
    ("Daughter Maria das Dores called.", "PERSON", "Maria das Dores"),
    ("Refund to Ines dos Reis approved.", "PERSON", "Ines dos Reis"),
    ("Letter from Ana dos Santos about her results.", "PERSON", "Ana dos Santos"),  # spaCy: "Santos" a noun
    ("Seen with Maria das Neves for follow-up.", "PERSON", "Maria das Neves"),  # spaCy: "Neves" a verb
    # ZIP+4, ZIP after a city with the state left out, state without a comma
    ("Mail to 5720 E. Cottonwood Dr, Peoria, IL 61604-2234 today.", "ZIP_CODE", "61604-2234"),
    ("Our address 5607 Harbor Drive, Savannah 31401 is new.", "ZIP_CODE", "31401"),
    ("Send to 20939 Juniper Pkwy Apt 5A, Fairbanks AK 99701 by mail.", "LOCATION", "Fairbanks AK"),
    # ages and dates in other layouts
    ("92 yo F with chest pain.", "AGE_OVER_89", "92"),
    ("92yoF with chest pain.", "AGE_OVER_89", "92"),
    ("Widow, aged 91, lives alone.", "AGE_OVER_89", "91"),
    ("drove her (97 yrs old) to dialysis", "AGE_OVER_89", "97"),
    ("Pt Pham, 100-yo, to ED.", "AGE_OVER_89", "100"),
    ("DOB: 08APR1980  Sex: F", "DATE_TIME", "08APR1980"),
    ("per daughter, last seen nl 1/24 at noon", "DATE_TIME", "1/24"),
    ("d/c 3/14 to rehab", "DATE_TIME", "3/14"),
    # international phone with a 00 prefix
    ("Please call me on 0044 161 233 5526 after six.", "PHONE_NUMBER", "0044 161 233 5526"),
]


@pytest.mark.parametrize(("text", "entity_type", "value"), GENERALIZATIONS, ids=[f"{t}:{v}" for _, t, v in GENERALIZATIONS])
def test_identifiers_in_other_layouts_are_detected(detector: Detector, text: str, entity_type: str, value: str) -> None:
    assert (entity_type, value) in found(detector, text)


BENIGN_LOOKALIKES = [
    "pt denies chest pain. pt reports improvement. pt ambulating with walker. patient education provided.",
    "hi there, can you call back tomorrow. wife states pt fell at home.",
    "Referred to Physical Therapy and to Cardiology Clinic. Follow-up with Infectious Disease.",
    "ABG 7.31/48/62/24 on 4L NC. Moved to Bay 12. Plan SBT at 0600 in Rm 339.",
    "Pain 6/10 -> 3/10 after 45 min. Strength 4/5 in the left leg. Age group 65-74 enrolled.",
    "Vaccine lot G47C487, NDC 75390-785-49. CPT 99285, 93000. Dx I48.91.",
    "CHIEF COMPLAINT: CHEST PAIN\nHISTORY OF PRESENT ILLNESS: SOB x2d",
]


@pytest.mark.parametrize("text", BENIGN_LOOKALIKES)
def test_lookalikes_in_clinical_text_are_left_alone(detector: Detector, text: str) -> None:
    assert [(f.entity_type, text[f.start:f.end]) for f in detector.analyze(text)] == []


def test_a_month_and_day_without_a_cue_is_not_a_date(detector: Detector) -> None:
    text = "Ratio 1/24 of the dose; strength 3/5 bilaterally."
    assert "DATE_TIME" not in {f.entity_type for f in detector.analyze(text)}
