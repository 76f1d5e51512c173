"""UNODC International Classification of Crime for Statistical Purposes (ICCS), version 1.0.

Sections (level 1, two digits) and divisions (level 2, four digits) are listed in full.
Groups and classes (levels 3 and 4, five and six digits) are national refinements of a
division in practice; a deeper code is accepted when it extends a known division.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

ICCS_SECTIONS: dict[str, str] = {
    "01": "Acts leading to death or intending to cause death",
    "02": "Acts causing harm or intending to cause harm to the person",
    "03": "Injurious acts of a sexual nature",
    "04": "Acts against property involving violence or threat against a person",
    "05": "Acts against property only",
    "06": "Acts involving controlled psychoactive substances or other drugs",
    "07": "Acts involving fraud, deception or corruption",
    "08": "Acts against public order, authority and provisions of the State",
    "09": "Acts against public safety and state security",
    "10": "Acts against the natural environment",
    "11": "Other criminal acts not elsewhere classified",
}

ICCS_DIVISIONS: dict[str, str] = {
    "0101": "Intentional homicide",
    "0102": "Attempted intentional homicide",
    "0103": "Non-intentional homicide",
    "0104": "Assisting or instigating suicide",
    "0105": "Euthanasia",
    "0106": "Illegal feticide",
    "0107": "Unlawful killing associated with armed conflict",
    "0108": "Other acts leading to death or intending to cause death",
    "0201": "Assaults and threats",
    "0202": "Acts against liberty",
    "0203": "Slavery and exploitation",
    "0204": "Trafficking in persons",
    "0205": "Coercion",
    "0206": "Negligence",
    "0207": "Dangerous acts",
    "0208": "Acts intended to induce fear or emotional distress",
    "0209": "Defamation or insult",
    "0210": "Discrimination",
    "0211": "Acts that trespass against the person",
    "0219": "Other acts causing harm or intending to cause harm to the person",
    "0301": "Sexual violence",
    "0302": "Sexual exploitation",
    "0309": "Other injurious acts of a sexual nature",
    "0401": "Robbery",
    "0409": "Other acts against property involving violence or threat against a person",
    "0501": "Burglary",
    "0502": "Theft",
    "0503": "Intellectual property offences",
    "0504": "Property damage",
    "0509": "Other acts against property only",
    "0601": "Unlawful acts involving controlled drugs or precursors",
    "0602": "Unlawful acts involving alcohol, tobacco or other controlled substances",
    "0609": "Other acts involving controlled psychoactive substances or other drugs",
    "0701": "Fraud",
    "0702": "Forgery/counterfeiting",
    "0703": "Corruption",
    "0704": "Acts involving proceeds of crime",
    "0709": "Other acts involving fraud, deception or corruption",
    "0801": "Acts against public order behavioural standards",
    "0802": "Acts against public order sexual standards",
    "0803": "Acts related to freedom of expression or control of expression",
    "0804": "Acts contrary to public revenue or regulatory provisions",
    "0805": "Acts related to migration",
    "0806": "Acts against the justice system",
    "0807": "Acts related to democratic elections",
    "0808": "Acts contrary to labour law",
    "0809": "Other acts against public order, authority and provisions of the State",
    "0901": "Acts involving weapons, explosives and other destructive materials",
    "0902": "Acts against health and safety",
    "0903": "Acts against computer systems",
    "0904": "Acts against state security",
    "0905": "Acts related to an organized criminal group",
    "0906": "Terrorism",
    "0907": "Traffic offences",
    "0909": "Other acts against public safety and state security",
    "1001": "Acts that cause environmental pollution or degradation",
    "1002": "Acts involving the movement or dumping of waste",
    "1003": "Trade or possession of protected or prohibited species of fauna and flora",
    "1004": "Acts that result in the depletion or degradation of natural resources",
    "1009": "Other acts against the natural environment",
    "1101": "Acts under universal jurisdiction",
    "1102": "Acts contrary to youth regulations and acts against minors",
    "1109": "Other criminal acts not elsewhere classified",
}

_CODE = re.compile(r"^\d{2}(\d{2}(\d{1,2})?)?$")


def iccs_label(code: str) -> str:
    """The label of a code, or of the nearest listed ancestor for a deeper code."""
    for length in (4, 2):
        label = (ICCS_DIVISIONS if length == 4 else ICCS_SECTIONS).get(code[:length])
        if label is not None:
            return label if len(code) == length else f"{label} ({code})"
    raise KeyError(code)


def validate_iccs_code(code: str) -> str:
    if not _CODE.match(code):
        raise ValueError(f"'{code}' is not an ICCS code (2, 4, 5 or 6 digits)")
    if code[:2] not in ICCS_SECTIONS:
        raise ValueError(f"'{code}' is in no ICCS section (01 to 11)")
    if len(code) >= 4 and code[:4] not in ICCS_DIVISIONS:
        raise ValueError(f"'{code[:4]}' is not an ICCS division")
    return code


IccsCode = Annotated[
    str,
    BeforeValidator(lambda value: value.strip() if isinstance(value, str) else value),
    Field(examples=["0101", "0502", "0601"]),
    AfterValidator(validate_iccs_code),
]
