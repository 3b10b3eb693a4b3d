"""Set (e): call transcripts, referral letters, claim forms, case notes, reviews and text messages, with
people, towns and hospitals of their own (street addresses use world.py's layouts). Written after the
changes of issue 11's `det` session and before any result on it was seen; never tuned on; rendered
from a fresh seed. It checks that those changes carry over to styles nobody tuned them on.
"""
from __future__ import annotations

import random

from .render import Gold, Person
from .world import WorldRenderer, WorldValues

FIRST = ("Henrik", "Ingrid", "Oskar", "Malgorzata", "Krzysztof", "Jolanta", "Rodrigo", "Thais", "Gabriela", "Tesfaye",
         "Meseret", "Abebe", "Ka-Wai", "Siu Ming", "Miklos", "Reka", "Aroha", "Wiremu", "Maricel", "Jericho", "Ignacio",
         "Paloma", "Anneliese", "Gunnar", "Svenja", "Tobias", "Franziska", "Luuk", "Noortje", "Dagny", "Vesna", "Dusan",
         "Ilse", "Piotr", "Agata", "Bongani", "Thandeka", "Anh", "Quang", "Yusuf", "Zeynep", "Parisa", "Kamran", "Imogen",
         "Barnaby", "Orla", "Ciaran", "Hamish", "Morag", "Destiny", "Tyrone", "Shanice", "Dolly", "Buddy", "Ruby", "Sunny")
LAST = ("Lindberg", "Solberg", "Nowakowska", "Zielinski", "Carvalho", "Ribeiro", "Gebremedhin", "Tadesse", "Chan", "Wong",
        "Szabo", "Farkas", "Ngata", "Parata", "dela Cruz", "Bautista", "Fuentes", "Navarro", "Brandt", "Vogel", "Hartmann",
        "de Jong", "Mulder", "Hagen", "Jovanovic", "Markovic", "Kowalski", "Mahlangu", "Ndlovu", "Vu", "Dang", "Aydin",
        "Celik", "Karimi", "Rahimi", "Ashworth", "Crowther", "MacLeod", "Fraser", "Ogilvie", "Booker", "Freeman", "Mason",
        "Bell", "Rich", "Day", "Price", "Cash", "Love", "Cross", "Hale", "Frost", "Storm", "Bishop", "Carpenter", "Lamb")
TOWNS = ("Bergamo", "Coimbra", "Lublin", "Uppsala", "Trondheim", "Lausanne", "Winterthur", "Aarhus", "Maribor", "Pecs",
         "Sibiu", "Nijmegen", "Ghent", "Linz", "Graz", "Tartu", "Kaunas", "Duluth", "Boise", "Asheville", "Tacoma",
         "Fresno", "Hamilton", "Dunedin", "Whanganui", "Cebu", "Mombasa", "Bulawayo", "Fez", "Adelaide")
HOSPITALS = ("Northgate General Hospital", "St Brigid's Infirmary", "Riverside Community Clinic", "Lakeshore Medical Centre")
PLATES_UK = "ABCDEFGHJKLMNOPRSTUVWXY"


class CallValues(WorldValues):
    def nhs(self) -> str:
        while True:
            number = self.digits(9)
            total = sum(int(d) * (10 - i) for i, d in enumerate(number))
            check = 11 - total % 11
            if check == 11:
                check = 0
            if check != 10:
                full = number + str(check)
                return f"{full[:3]} {full[3:6]} {full[6:]}"

    def plate(self) -> str:
        letters = "".join(self.rng.choice(PLATES_UK) for _ in range(5))
        return self.rng.choice([f"{letters[:2]}{self.digits(2)} {letters[2:]}", f"{self.digits(1)}{letters[:3]}{self.digits(3)}"])

    def policy(self) -> str:
        return self.rng.choice([f"POL-{self.digits(8)}", f"{self.letters(3)}{self.digits(7)}", f"{self.digits(3)}-{self.digits(6)}-{self.digits(2)}"])

    def time(self) -> str:
        return self.rng.choice([f"{self.rng.randint(7, 20)}:{self.rng.choice(['00', '15', '30', '45'])}", f"{self.rng.randint(1, 12)}pm"])


class CallRenderer(WorldRenderer):
    """`WorldRenderer` with this set's people and towns."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.values = CallValues(rng)

    def person(self, role: str) -> Person:
        if role not in self.people:
            self.people[role] = Person(self.rng.choice(FIRST), self.rng.choice(LAST))
        return self.people[role]

    def slot(self, name: str) -> list[Gold]:
        v: CallValues = self.values  # type: ignore[assignment]
        simple = {"nhs": (v.nhs, "UK_NHS"), "plate": (v.plate, "VEHICLE_ID"), "policy": (v.policy, "HEALTH_PLAN_ID"),
                  "town": (lambda: self.rng.choice(TOWNS), "LOCATION"), "hospital": (lambda: self.rng.choice(HOSPITALS), "LOCATION")}
        if name in simple:
            make, entity = simple[name]
            return [(make(), entity)]
        if name == "time":
            return [(v.time(), None)]
        return super().slot(name)


GENERAL = (
    "Agent: Thanks for calling, can I take your name?\nCaller: yeah it's {p.first} {p.last}\nAgent: And the first line "
    "of your address?\nCaller: {address}\nAgent: Lovely. Date of birth?\nCaller: {dob}",
    "Dear Dr {d.last},\n\nRe: {p.full}, DOB {dob}, NHS No {nhs}\n{address}\n\nThank you for seeing this {age}-year-old "
    "gentleman whose wife {r.first} reports increasing confusion since {short_date}.\n\nYours sincerely,\n\nDr {r.full}\n{hospital}",
    "Claim form. Claimant: {p.lastfirst}. Policy {policy}. Vehicle {plate} was hit outside {address} on {date} "
    "at {time}. Third party: {r.full}, tel {intl_phone}.",
    "Case note: client {p.full} (passport {passport}) arrived from {town} on {date}; staying with cousin {r.first} "
    "{r.last} at {address}. Caseworker {d.full}.",
    "Review by {handle.p}: the staff at the {town} branch were great, especially {r.first}! Booked again for {date}.",
    "SMS to {intl_phone}: Hi {p.first}, your prescription is ready at the {town} pharmacy. Ref {ref}. Reply STOP to opt out.",
    "Minutes: {d.full} (chair), {r.full}, {p.full}. {p.first} raised the complaint from {mail.r} about the {town} depot.",
    "Voicemail from {p.first} {p.last} at {time}: call me back on {intl_phone}, I've moved to {address}.",
    "Payroll change: {p.full}, employee {employee_id}, new IBAN {iban}, home address {address}.",
    "Incident: {p.first} {p.last} fell in the car park of {hospital} on {date}; seen by {d.full}, who phoned her son {r.first}.",
)
BENIGN = (
    "Agent: Is there anything else I can help you with today?\nCaller: No, that's everything, thanks.",
    "Please bring a list of current medicines, your appointment letter and a face covering to the clinic.",
    "The depot will close early on Friday for the stock take; collections resume on Monday morning.",
    "Reply STOP to opt out of reminders. Standard network charges apply to text messages.",
    "Minutes were approved without amendment. Actions from the previous meeting are complete.",
)
TEMPLATES = {"general": GENERAL, "benign": BENIGN}
