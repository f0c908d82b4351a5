"""Scrubbing personal data before anything is stored, logged or sent to a model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDERS = {
    "email": "[E-MAIL]",
    "iban": "[IBAN]",
    "bsn": "[BSN]",
    "phone": "[TELEFOON]",
    "address": "[ADRES]",
    "birthdate": "[GEBOORTEDATUM]",
    "name": "[NAAM]",
}

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b", re.IGNORECASE)
_BSN = re.compile(r"(?<![\d,.])(?:\d[ .-]?){8}\d(?![\d]|[.,]\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)31[ .-]?(?:\(0\))?[ .-]?\d(?:[ .-]?\d){8}"  # +31 / 0031 and 9 digits
    r"|06[ .-]?\d(?:[ .-]?\d){7}"  # mobile
    r"|0\d{2}[ .-]?\d(?:[ .-]?\d){6}"  # landline, 3-digit area code
    r"|0\d{3}[ .-]?\d(?:[ .-]?\d){5})(?![\d])"  # landline, 4-digit area code
)
_POSTCODE_HOUSE = re.compile(
    r"\b[1-9]\d{3}[ ]?(?!SA|SD|SS)[A-Z]{2}\b[ ,]*(?:nr\.?|huisnummer)?[ ]?\d{1,5}[ ]?[a-zA-Z]?\b"
    r"|\b[A-Z][a-zà-ÿ]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|hof|pad|steeg)\s+\d{1,5}[a-zA-Z]?\b"
    r"(?:[ ,]+[1-9]\d{3}[ ]?[A-Z]{2}\b)?"
)
_MONTHS = (
    "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|"
    "january|february|march|may|june|july|august|october"
)
_DATE = rf"(?:\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:19|20)\d{{2}}|\d{{1,2}}\s+(?:{_MONTHS})\s+(?:19|20)\d{{2}}|(?:19|20)\d{{2}}-\d{{2}}-\d{{2}})"
_BIRTH_CONTEXT = re.compile(
    rf"((?:geboren|geb\.|geboortedatum|geboortedag|born|date of birth|birthday|dob)\b[^.\n]{{0,25}}?){_DATE}",
    re.IGNORECASE,
)
_OLD_NUMERIC_DATE = re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.](?:19[3-9]\d|200\d)\b")
_NAME_WORD = r"[A-ZÀ-Ý][a-zà-ÿ'’-]+"
_TUSSEN = r"(?:van|de|der|den|ter|ten|het|'t|van de|van der|van den|in 't|op de|el|al|bin|da|di|du|le|la)"
_NAME = re.compile(
    rf"(?P<lead>\b(?i:mijn naam is|ik heet|ik ben|hier is|groet(?:en)?|groetjes|vriendelijke groet|my name is|"
    rf"i am|i'm|this is|name:|naam:|regards|cheers)[,:]?\s+)"
    rf"(?P<name>{_NAME_WORD}(?:\s+(?:{_TUSSEN}\s+)?{_NAME_WORD}){{0,2}})"
)
_CAPITALISED = re.compile(rf"^{_NAME_WORD}")
# Words that follow "ik ben"/"I am" without being a name.
_NOT_NAMES = frozenset(
    [
        "Leraar",
        "Docent",
        "Juf",
        "Meester",
        "Onderwijsassistent",
        "Student",
        "Moeder",
        "Vader",
        "Werkloos",
        "Zzp",
        "Zzp'er",
        "Ingenieur",
        "Verpleegkundige",
        "Nederlander",
        "Nederlandse",
        "Benieuwd",
        "Geinteresseerd",
        "Geïnteresseerd",
        "Bezig",
        "Op",
        "Al",
        "Nu",
        "Een",
        "Niet",
        "Wel",
        "Van",
        "Het",
        "De",
        "Bij",
        "In",
        "Interested",
        "Looking",
        "Currently",
        "Working",
        "Teacher",
        "From",
        "Not",
        "Also",
        "Just",
        "Really",
        "Very",
        "An",
        "A",
        "The",
        "Dutch",
        "English",
        "Thinking",
        "Sinds",
        "Zelf",
        "Erg",
        "Heel",
        "Echt",
        "Best",
        "Twijfel",
        "Aan",
        "Hier",
        "Dus",
        "Toch",
        "Nog",
        "Ook",
        "Ik",
        "Die",
        "Dat",
        "Wat",
        "Wie",
        "Hoe",
        "Gisteren",
        "Vandaag",
        "Morgen",
        "Hbo",
        "Wo",
        "Mbo",
        "Pabo",
        "Afgestudeerd",
        "Gestopt",
        "Bang",
        "Blij",
        "Moe",
    ]
)


@dataclass
class Scrubbed:
    text: str
    found: list[str] = field(default_factory=list)  # kinds only: the values themselves are never kept


def bsn_is_valid(digits: str) -> bool:
    """The elfproef: 9 digits whose weighted sum (9..2, and -1 for the last) is divisible by 11."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    if iban.startswith("NL") and (len(iban) != 18 or not iban[4:8].isalpha() or not iban[8:].isdigit()):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def scrub(text: str) -> Scrubbed:
    """The text with personal data replaced by typed placeholders, and the kinds that were found."""
    found: list[str] = []

    def replace(kind: str, pattern: re.Pattern[str], value: str, valid: object = None) -> str:
        def sub(match: re.Match[str]) -> str:
            if callable(valid) and not valid(match):
                return match.group(0)
            found.append(kind)
            return PLACEHOLDERS[kind]

        return pattern.sub(sub, value)

    text = replace("email", _EMAIL, text)
    text = replace("iban", _IBAN, text, lambda m: iban_is_valid(m.group(0)))
    text = replace("phone", _PHONE, text)
    text = replace("bsn", _BSN, text, lambda m: bsn_is_valid(re.sub(r"\D", "", m.group(0))))
    text = _BIRTH_CONTEXT.sub(
        lambda m: _mark(found, "birthdate", m.group(1) + PLACEHOLDERS["birthdate"]), text
    )
    text = replace("birthdate", _OLD_NUMERIC_DATE, text)
    text = replace("address", _POSTCODE_HOUSE, text)

    def name(match: re.Match[str]) -> str:
        candidate = match.group("name")
        first = candidate.split()[0]
        if not _CAPITALISED.match(candidate) or first.capitalize() in _NOT_NAMES:
            return match.group(0)
        found.append("name")
        return match.group("lead") + PLACEHOLDERS["name"]

    text = _NAME.sub(name, text)
    return Scrubbed(text, found)


def _mark(found: list[str], kind: str, replacement: str) -> str:
    found.append(kind)
    return replacement
