"""Set (d): general free-form international PII text (issue 11's fourth row), in styles of its own:
support tickets, e-mail threads with signatures, chat, HR notes, bank and legal letters, bookings and
forms, with addresses of several countries (UK, DE, FR, ES, NL, CA, AU, IE), EU/UK/CA identifiers,
IBANs, user names and IP addresses, and names and places from pools of their own (none shared with
render.py's). Written once, before any result on it was seen; never tuned on; rendered from a fresh seed.
"""
from __future__ import annotations

import random
import string

from policies.detect import checksums as cs

from .render import Gold, Person, Renderer, Values

FIRST = ("Matteo", "Ines", "Bartosz", "Ewa", "Tiago", "Beatriz", "Emre", "Elif", "Nguyen Van", "Linh", "Seo-yeon", "Min-jun",
         "Arjun", "Kavya", "Oluwaseun", "Chiamaka", "Youssef", "Salma", "Dariush", "Shirin", "Vojtech", "Katerina", "Zsofia",
         "Bence", "Aino", "Eero", "Nikos", "Eleni", "Joost", "Femke", "Bjorn", "Astrid", "Siobhan", "Padraig", "Rhys", "Carys",
         "Mateus", "Camila", "Ayumi", "Haruto", "Wei", "Xiaoling", "Rizal", "Siti", "Tendai", "Nomvula", "Laszlo", "Ioana",
         "Radu", "Mariam", "Bilal", "Sunita", "Deepak", "Fionnuala", "Guillermo", "Maite", "Heike", "Jurgen", "Solveig",
         "Teodor", "Milena", "Goran", "Ana Sofia", "Jean-Baptiste", "Margaux", "Sander", "Lotte", "Kofi", "Efua", "Mohammed",
         "Leila", "Brendan", "Maeve", "Harvey", "Poppy", "Connor", "Isla", "Dylan", "Megan", "Russell", "Joy", "Hope")
LAST = ("Rossi", "Wojcik", "Pereira", "Yilmaz", "Demir", "Pham", "Hoang", "Kim", "Yoon", "Iyer", "Reddy", "Balogun",
        "Eze", "El Amrani", "Benali", "Tehrani", "Dvorak", "Horvath", "Nagy", "Virtanen", "Korhonen", "Papadopoulos",
        "de Vries", "van Dijk", "Bakker", "Andersson", "Lindqvist", "O'Sullivan", "Ni Bhriain", "Griffiths", "Pritchard",
        "Oliveira", "Santos", "Yamamoto", "Takahashi", "Zhang", "Liu", "Wijaya", "Moyo", "Dlamini", "Popescu", "Ionescu",
        "Qureshi", "Chaudhry", "Banerjee", "Fitzgerald", "Herrero", "Etxeberria", "Hoffmann", "Krause", "Haugen", "Petrov",
        "Kovacevic", "Lefebvre", "Girard", "Mertens", "Janssens", "Owusu", "Asante", "Haddadi", "Nasser", "Walsh",
        "Doyle", "Marsh", "Hill", "Hunt", "Field", "Sharp", "Little", "Young", "Friend", "Summers", "Winter", "Gold")
UK_TOWNS = ("Harrogate", "Stockport", "Swansea", "Dundee", "Lincoln", "Kendal", "Truro", "Wrexham", "Colchester", "Bath")
IE_TOWNS = ("Galway", "Limerick", "Sligo", "Tralee", "Drogheda")
DE_TOWNS = ("Freiburg", "Bielefeld", "Regensburg", "Kassel", "Potsdam", "Rostock", "Erfurt")
FR_TOWNS = ("Nantes", "Grenoble", "Rennes", "Dijon", "Montpellier", "Besancon", "Angers")
ES_TOWNS = ("Zaragoza", "Valladolid", "Bilbao", "Granada", "Alicante", "Salamanca")
NL_TOWNS = ("Utrecht", "Eindhoven", "Groningen", "Haarlem", "Leiden", "Delft")
CA_TOWNS = (("Halifax", "NS"), ("Saskatoon", "SK"), ("Kelowna", "BC"), ("Sherbrooke", "QC"), ("Kingston", "ON"), ("Red Deer", "AB"))
AU_TOWNS = (("Geelong", "VIC"), ("Ballarat", "VIC"), ("Wollongong", "NSW"), ("Townsville", "QLD"), ("Fremantle", "WA"))
ABROAD = ("Krakow", "Brno", "Cluj-Napoca", "Izmir", "Porto Alegre", "Medellin", "Pune", "Da Nang", "Busan", "Osaka",
          "Accra", "Nairobi", "Casablanca", "Tbilisi", "Tampere", "Bergen", "Gothenburg", "Thessaloniki", "Ljubljana")
STREET_WORDS = ("Elm", "Beech", "Station", "Church", "Victoria", "Meadow", "Kingfisher", "Primrose", "Abbey", "Chestnut",
                "Hawthorn", "Mill", "Bridge", "Quarry", "Larch", "Foxglove", "Heron")
UK_STREET_TYPES = ("Road", "Lane", "Close", "Gardens", "Crescent", "Mews", "Way", "Street", "Grove", "Terrace", "Drive")
DE_STREETS = ("Linden", "Goethe", "Kastanien", "Bahnhof", "Schiller", "Rosen", "Birken", "Mozart", "Eichen")
FR_STREETS = ("rue des Tanneurs", "avenue Jean Jaures", "rue du Moulin", "boulevard Voltaire", "rue de la Republique",
              "impasse des Lilas", "chemin des Vignes")
ES_STREETS = ("Calle Mayor", "Avenida de la Constitucion", "Calle del Olmo", "Paseo de Gracia", "Calle San Vicente")
NL_STREETS = ("Kerk", "Molen", "Dorps", "Wilhelmina", "Tulp", "Beuk")
CA_STREETS = ("King", "Queen", "Portage", "Sherbrooke", "Barrington", "Jasper", "Spring Garden")
MAIL_DOMAINS = ("posteo.de", "gmx.net", "laposte.net", "outlook.ie", "btinternet.com", "telus.net", "bigpond.com",
                "proton.me", "ziggo.nl", "yahoo.es")
SITES = ("myaccount.example-bank.eu", "portal.lettings-direct.co.uk", "hr.northwind-corp.com", "booking.alpinetravel.ch")
IBAN_LAYOUTS = (("DE", 18, ""), ("GB", 14, "NWBK"), ("FR", 23, ""), ("NL", 10, "INGB"), ("ES", 20, ""), ("IE", 14, "AIBK"))
MONTHS_FR = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre", "novembre",
             "decembre")


class WorldValues(Values):
    """Value layouts of other countries (dates day-first, postcodes, national phone layouts)."""

    def letters(self, count: int) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase) for _ in range(count))

    def intl_phone(self) -> str:
        d = self.digits
        return self.rng.choice([f"+44 7700 {d(6)}", f"07700 {d(3)} {d(3)}", f"0161 {d(3)} {d(4)}", f"+49 151 {d(8)}",
                                f"030 {d(7)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
                                f"+34 6{d(2)} {d(3)} {d(3)}", f"+31 6 {d(4)} {d(4)}", f"06-{d(8)}", f"+61 4{d(2)} {d(3)} {d(3)}",
                                f"+353 87 {d(3)} {d(4)}", f"+1 (416) {d(3)}-{d(4)}", f"+91 9{d(4)} {d(5)}"])

    def dob(self) -> str:
        year, month, day = self.rng.randint(1940, 2004), self.rng.randint(1, 12), self.rng.randint(1, 28)
        return self.rng.choice([f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day}.{month:02d}.{year}",
                                f"{day} {MONTHS_FR[month - 1]} {year}", f"{day}-{['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][month - 1]}-{year}"])

    def iban(self) -> str:
        country, length, bank = self.rng.choice(IBAN_LAYOUTS)
        bban = bank + self.digits(length)
        iban = f"{country}{cs.iban_check(country, bban)}{bban}"
        return self.rng.choice([iban, " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))])

    def bsn(self) -> str:
        while True:
            number = self.digits(9)
            if number[0] != "0" and cs.bsn_is_eleven_proof(number):
                return number

    def pesel(self) -> str:
        body = f"{self.rng.randint(50, 99)}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}{self.digits(4)}"
        return body + str(cs.pesel_check(body))

    def sin_dashed(self) -> str:
        return self.sin().replace(" ", "-")

    def passport(self) -> str:
        return self.rng.choice([f"{self.letters(2)}{self.digits(7)}", f"{self.digits(9)}", f"C{self.letters(1)}{self.digits(7)}"])

    def ip(self) -> str:
        return f"{self.rng.randint(11, 223)}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"

    def employee_id(self) -> str:
        return self.rng.choice([f"EMP-{self.digits(5)}", f"E{self.digits(6)}", f"{self.letters(2)}{self.digits(4)}"])

    def customer_number(self) -> str:
        return self.rng.choice([f"CUST{self.digits(8)}", f"{self.digits(4)} {self.digits(4)} {self.digits(2)}", f"K-{self.digits(7)}"])

    def reference(self) -> str:
        return self.rng.choice([f"{self.letters(3)}/{self.digits(4)}/{self.digits(2)}", f"#{self.digits(6)}", f"{self.letters(2)}-{self.digits(5)}"])

    def uk_postcode(self) -> str:
        return f"{self.letters(2)}{self.rng.randint(1, 19)} {self.rng.randint(1, 9)}{self.letters(2)}"

    def ca_postcode(self) -> str:
        return f"{self.letters(1)}{self.digits(1)}{self.letters(1)} {self.digits(1)}{self.letters(1)}{self.digits(1)}"

    def eircode(self) -> str:
        return f"{self.letters(1)}{self.digits(2)} {self.letters(1)}{self.digits(1)}{self.letters(1)}{self.digits(1)}"


class WorldRenderer(Renderer):
    """`Renderer` with this set's pools and slots (`address` draws one country's address layout)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.values = WorldValues(rng)

    def person(self, role: str) -> Person:
        if role not in self.people:
            self.people[role] = Person(self.rng.choice(FIRST), self.rng.choice(LAST))
        return self.people[role]

    def slot(self, name: str) -> list[Gold]:
        v: WorldValues = self.values  # type: ignore[assignment]
        simple = {"intl_phone": (v.intl_phone, "PHONE_NUMBER"), "dob": (v.dob, "DATE_TIME"), "iban": (v.iban, "IBAN_CODE"),
                  "bsn": (v.bsn, "EU_NATIONAL_ID"), "pesel": (v.pesel, "EU_NATIONAL_ID"), "sin": (v.sin_dashed, "EU_NATIONAL_ID"),
                  "passport": (v.passport, "PASSPORT"), "ip": (v.ip, "IP_ADDRESS"), "employee_id": (v.employee_id, "UNKNOWN_IDENTIFIER"),
                  "customer": (v.customer_number, "ACCOUNT_NUMBER"), "ref": (v.reference, "UNKNOWN_IDENTIFIER"),
                  "abroad": (lambda: self.rng.choice(ABROAD), "LOCATION"),
                  "site": (lambda: f"https://{self.rng.choice(SITES)}/u/{v.digits(6)}", "URL")}
        if name in simple:
            make, entity = simple[name]
            return [(make(), entity)]
        if name == "address":
            return self.address()
        if name.startswith("handle."):
            p = self.person(name.split(".", 1)[1])
            handle = self.rng.choice([f"{p.first[:1]}{p.last}{v.digits(2)}", f"{p.first}_{p.last[:3]}", f"{p.last}.{v.digits(4)}"])
            return [(handle.lower().replace(" ", "").replace("'", ""), "UNKNOWN_IDENTIFIER")]
        if name.startswith("mail."):
            p = self.person(name.split(".", 1)[1])
            local = self.rng.choice([f"{p.first}.{p.last}", f"{p.first[:1]}.{p.last}", f"{p.last}{v.digits(2)}"])
            return [(f"{local.lower().replace(' ', '')}@{self.rng.choice(MAIL_DOMAINS)}", "EMAIL_ADDRESS")]
        return super().slot(name)

    def address(self) -> list[Gold]:
        country = self.rng.choice(("uk", "ie", "de", "fr", "es", "nl", "ca", "au"))
        return getattr(self, f"_address_{country}")()

    def _address_uk(self) -> list[Gold]:
        v: WorldValues = self.values  # type: ignore[assignment]
        street = f"{self.rng.randint(1, 240)} {self.rng.choice(STREET_WORDS)} {self.rng.choice(UK_STREET_TYPES)}"
        return [(street, "STREET_ADDRESS"), (", ", None), (self.rng.choice(UK_TOWNS), "LOCATION"), (" ", None),
                (v.uk_postcode(), "ZIP_CODE")]

    def _address_ie(self) -> list[Gold]:
        v: WorldValues = self.values  # type: ignore[assignment]
        street = f"{self.rng.randint(1, 90)} {self.rng.choice(STREET_WORDS)} {self.rng.choice(('Road', 'Avenue', 'Park', 'Court'))}"
        return [(street, "STREET_ADDRESS"), (", ", None), (self.rng.choice(IE_TOWNS), "LOCATION"), (", ", None),
                (v.eircode(), "ZIP_CODE")]

    def _address_de(self) -> list[Gold]:
        v = self.values
        street = f"{self.rng.choice(DE_STREETS)}{self.rng.choice(('straße', 'weg', 'allee'))} {self.rng.randint(1, 120)}"
        return [(street, "STREET_ADDRESS"), (", ", None), (v.digits(5), "ZIP_CODE"), (" ", None), (self.rng.choice(DE_TOWNS), "LOCATION")]

    def _address_fr(self) -> list[Gold]:
        v = self.values
        street = f"{self.rng.randint(1, 150)} {self.rng.choice(FR_STREETS)}"
        return [(street, "STREET_ADDRESS"), (", ", None), (v.digits(5), "ZIP_CODE"), (" ", None), (self.rng.choice(FR_TOWNS), "LOCATION")]

    def _address_es(self) -> list[Gold]:
        v = self.values
        street = f"{self.rng.choice(ES_STREETS)} {self.rng.randint(1, 99)}, {self.rng.randint(1, 9)}º {self.rng.choice('ABCD')}"
        return [(street, "STREET_ADDRESS"), (", ", None), (v.digits(5), "ZIP_CODE"), (" ", None), (self.rng.choice(ES_TOWNS), "LOCATION")]

    def _address_nl(self) -> list[Gold]:
        v: WorldValues = self.values  # type: ignore[assignment]
        street = f"{self.rng.choice(NL_STREETS)}straat {self.rng.randint(1, 200)}"
        return [(street, "STREET_ADDRESS"), (", ", None), (f"{v.digits(4)} {v.letters(2)}", "ZIP_CODE"), (" ", None),
                (self.rng.choice(NL_TOWNS), "LOCATION")]

    def _address_ca(self) -> list[Gold]:
        v: WorldValues = self.values  # type: ignore[assignment]
        town, province = self.rng.choice(CA_TOWNS)
        street = f"{self.rng.randint(10, 4999)} {self.rng.choice(CA_STREETS)} {self.rng.choice(('Street', 'Avenue', 'Road'))} {self.rng.choice('NSEW')}"
        return [(street, "STREET_ADDRESS"), (", ", None), (town, "LOCATION"), (", ", None), (province, "LOCATION"), (" ", None),
                (v.ca_postcode(), "ZIP_CODE")]

    def _address_au(self) -> list[Gold]:
        v = self.values
        town, state = self.rng.choice(AU_TOWNS)
        street = f"{self.rng.randint(1, 300)} {self.rng.choice(STREET_WORDS)} {self.rng.choice(('Parade', 'Street', 'Esplanade', 'Road'))}"
        return [(street, "STREET_ADDRESS"), (", ", None), (town, "LOCATION"), (" ", None), (state, "LOCATION"), (" ", None),
                (v.digits(4), "ZIP_CODE")]


GENERAL = (
    "Ticket {ref}: customer {p.full} (login {handle.p}) says the card ending was charged twice. "
    "Last login from {ip} on {date}. Please refund to IBAN {iban}.",
    "From: {p.full} <{mail.p}>\nTo: billing\nSubject: change of address\n\nHello, from next month my address is "
    "{address}. My customer number is {customer}.\n\nKind regards,\n{p.full}\n{intl_phone}",
    "[09:14] {handle.p}: hey {r.first} are you still at {address}?\n[09:15] {handle.r}: moved lol, call me {intl_phone}",
    "HR note - {p.lastfirst}, employee {employee_id}, born {dob}, joined the {abroad} office. Manager: {d.full}. "
    "Emergency contact: {r.full}, {intl_phone}.",
    "Dear {p.first} {p.last},\n\nWe confirm receipt of your mortgage application. Account holder: {p.full}; "
    "IBAN {iban}; correspondence address {address}.\n\nYours sincerely,\n{d.full}\nCustomer Services",
    "Our ref: {ref}\nYour ref: {ref}\n\nRe: tenancy of {address}\n\nWe act for your landlord, {r.full}. "
    "Rent arrears must be paid by {date}. Please contact {d.full} on {intl_phone}.",
    "Booking confirmed for {p.full} and {r.full}, passport {passport}, arriving {abroad} on {date}. "
    "Contact e-mail {mail.p}.",
    "Name: {p.full}\nDate of birth: {dob}\nAddress: {address}\nPhone: {intl_phone}\nBSN: {bsn}",
    "Hi team, {p.first} from {abroad} joined today, she'll use the handle {handle.p}. Her laptop IP is {ip}. "
    "Please add her to the payroll (PESEL {pesel}). Thanks, {d.first}",
    "Je soussigne {p.full}, ne le {dob}, demeurant {address}, declare avoir recu la somme convenue. Fait a {abroad}.",
    "Applicant {p.full}, SIN {sin}, currently at {address}, previously lived in {abroad}. Reference: {r.full} ({mail.r}).",
    "can you forward this to {p.lower}? her new mail is {mail.p} and she lives at {address} now",
    "Witness statement of {p.full}, DOB {dob}. On {date} I saw {r.full} outside {address}. "
    "My mobile is {intl_phone}.",
    "Payment of EUR 1,240.00 from {p.full} (IBAN {iban}) to {r.full} failed on {date}; reference {ref}. "
    "Portal link: {site}",
    "Delivery for {p.first} {p.last}, {address}. Leave with neighbour {r.first} at number 4 if out. Tel {intl_phone}",
    "Interview panel: {d.full}, {r.full}. Candidate: {p.full}, {mail.p}, relocating from {abroad} to {address}.",
)
BENIGN = (
    "Reminder: the quarterly all-hands moves to Thursday at 15:00 CET; dial in through Microsoft Teams as usual.",
    "Invoice INV totals EUR 3,480.00 excluding VAT; payment terms are 30 days net from the invoice date.",
    "The Customer Services team will be closed on public holidays. Online banking and the mobile app stay available.",
    "Please complete the Data Protection and Information Security training modules before the end of the month.",
    "Release notes: the export now supports CSV and XLSX, the search bar handles accents, and login is faster.",
    "Our Terms and Conditions were updated on the advice of the Compliance Department; no action is needed.",
    "The Board approved the Annual Report and the Sustainability Strategy at its Spring meeting.",
    "Standard delivery takes 3 to 5 working days; Express orders placed before noon ship the same day.",
)
TEMPLATES = {"general": GENERAL, "benign": BENIGN}
