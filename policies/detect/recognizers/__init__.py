"""Our recognizers, one module per family, run beside presidio's e-mail, URL and IP recognizers."""
from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from .address import UsAddressRecognizer
from .contact import LenientPhoneRecognizer, phone
from .dates import dates
from .gdpr import all_gdpr
from .geo import all_geo
from .hipaa import all_hipaa
from .names import NameRecognizer
from .pci import all_pci


def our_recognizers() -> list[EntityRecognizer]:
    return [NameRecognizer(), dates(), phone(), LenientPhoneRecognizer(), UsAddressRecognizer(), *all_geo(), *all_hipaa(),
            *all_pci(), *all_gdpr()]
