"""Check-digit arithmetic of the identifiers we recognise.

Each `*_check` function computes the check character(s) for a payload; each `is_valid_*` verifies a
complete identifier (separators already removed). The synthetic evaluation set uses the `*_check`
functions to build valid identifiers; tests pin them to published example numbers.
"""
from __future__ import annotations

import string

_ALNUM_VALUE = {c: i for i, c in enumerate(string.digits + string.ascii_uppercase)}


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_check(payload: str) -> int:
    """Luhn check digit to append to the decimal string `payload`."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_luhn_valid(number: str) -> bool:
    return len(number) > 1 and number.isdigit() and luhn_check(number[:-1]) == int(number[-1])


NPI_PREFIX = "80840"  # ISO 7812 issuer prefix for US health identifiers


def npi_check(first_nine: str) -> int:
    return luhn_check(NPI_PREFIX + first_nine)


def is_valid_npi(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and number[0] in "12" and npi_check(number[:9]) == int(number[9])


def dea_check(six_digits: str) -> int:
    d = [int(c) for c in six_digits]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10


DEA_REGISTRANT_LETTERS = "ABCDEFGHJKLMPRSTUX"


def is_valid_dea(value: str) -> bool:
    value = value.upper()
    return (
        len(value) == 9
        and value[0] in DEA_REGISTRANT_LETTERS
        and (value[1].isalpha() or value[1] == "9")
        and value[2:].isdigit()
        and dea_check(value[2:8]) == int(value[8])
    )


_VIN_LETTER_VALUE = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9]))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check(vin: str) -> str:
    """Check character (position 9) of a 17-character VIN; position 9 itself is ignored."""
    total = sum(
        (int(c) if c.isdigit() else _VIN_LETTER_VALUE[c]) * w for c, w in zip(vin.upper(), _VIN_WEIGHTS)
    )
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid_vin(vin: str) -> bool:
    vin = vin.upper()
    return (
        len(vin) == 17
        and all(c.isdigit() or c in _VIN_LETTER_VALUE for c in vin)
        and any(c.isdigit() for c in vin)
        and any(c.isalpha() for c in vin)
        and vin_check(vin) == vin[8]
    )


def iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    return f"{98 - _mod97(rearranged):02d}"


def _mod97(alnum: str) -> int:
    return int("".join(str(_ALNUM_VALUE[c]) for c in alnum)) % 97


IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}


def is_valid_iban(iban: str) -> bool:
    iban = iban.upper()
    return (
        IBAN_LENGTHS.get(iban[:2]) == len(iban)
        and iban[2:4].isdigit()
        and iban.isalnum()
        and _mod97(iban[4:] + iban[:4]) == 1
    )


def nhs_check(first_nine: str) -> int | None:
    """NHS number check digit (modulus 11); None when the payload cannot be issued (remainder 10)."""
    total = sum(int(c) * w for c, w in zip(first_nine, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 10:
        return None
    return 0 if check == 11 else check


def is_valid_nhs(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and nhs_check(number[:9]) == int(number[9])


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(number: int) -> str:
    return _DNI_LETTERS[number % 23]


def is_valid_spanish_id(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter)."""
    value = value.upper()
    if len(value) != 9 or not value[-1].isalpha():
        return False
    body = value[:-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and dni_letter(int(body)) == value[-1]


_CF_ODD = dict(zip(string.digits, [1, 0, 5, 7, 9, 13, 15, 17, 19, 21])) | dict(
    zip(string.ascii_uppercase, [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23])
)


def codice_fiscale_check(first_fifteen: str) -> str:
    total = 0
    for position, char in enumerate(first_fifteen.upper()):
        if position % 2 == 0:  # odd positions counting from 1
            total += _CF_ODD[char]
        else:
            total += int(char) if char.isdigit() else ord(char) - ord("A")
    return chr(ord("A") + total % 26)


def is_valid_codice_fiscale(value: str) -> bool:
    value = value.upper()
    return len(value) == 16 and value.isalnum() and codice_fiscale_check(value[:15]) == value[15]


def nir_key(first_thirteen: str) -> int:
    """French NIR (INSEE number) key; Corsican departments 2A/2B count as 19/18."""
    numeric = first_thirteen.upper().replace("2A", "19").replace("2B", "18")
    return 97 - int(numeric) % 97


def is_valid_nir(value: str) -> bool:
    value = value.upper()
    if len(value) != 15 or value[0] not in "12" or not value[13:].isdigit():
        return False
    body = value[:13]
    if not body.replace("2A", "00").replace("2B", "00").isdigit():
        return False
    return nir_key(body) == int(value[13:])


def steuer_id_check(first_ten: str) -> int:
    """German tax id (Steuer-ID) check digit, ISO 7064 MOD 11,10."""
    product = 10
    for char in first_ten:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


def is_valid_steuer_id(number: str) -> bool:
    return (
        len(number) == 11
        and number.isdigit()
        and number[0] != "0"
        and steuer_id_check(number[:10]) == int(number[10])
    )


def bsn_is_eleven_proof(number: str) -> bool:
    """Dutch BSN: 9 digits with sum(d_i * (9..2)) - d_9 divisible by 11."""
    if len(number) != 9 or not number.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(number[:8], range(9, 1, -1))) - int(number[8])
    return total % 11 == 0 and int(number) != 0


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pesel_check(first_ten: str) -> int:
    return (10 - sum(int(c) * w for c, w in zip(first_ten, _PESEL_WEIGHTS)) % 10) % 10


def is_valid_pesel(number: str) -> bool:
    return len(number) == 11 and number.isdigit() and pesel_check(number[:10]) == int(number[10])
