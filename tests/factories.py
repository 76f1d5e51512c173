"""Valid request bodies and domain objects for tests; override any field by keyword."""

from __future__ import annotations

import secrets
from typing import Any

from polex.domain.vin import vin_check_digit


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def person_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "names": [
            {"full": "Олександр Шевченко", "given": "Олександр", "family": "Шевченко"},
            {"full": "Oleksandr Shevchenko", "kind": "transliteration"},
        ],
        "sex": "male",
        "birth_dates": ["1984-07-12"],
        "birth_place": {"place": "Київ", "country": "UKR"},
        "nationalities": ["UKR"],
        "identifiers": [{"kind": "passport", "value": "FE123456", "country": "UKR"}],
    }
    body.update(overrides)
    return body


def document_body(**overrides: Any) -> dict[str, Any]:
    number = f"{secrets.randbelow(90) + 10}AB{secrets.randbelow(90000) + 10000}"
    body: dict[str, Any] = {
        "number": number,
        "issuing_country": "FRA",
        "document_type": "passport",
        "status": "stolen",
        "issued_on": "2019-03-01",
        "expires_on": "2029-02-28",
        "reported_on": "2024-05-17",
        "place_of_loss": "Lyon",
        "holder": {
            "names": [{"full": "Camille Martin"}],
            "birth_date": "1990-01-02",
            "sex": "female",
            "nationality": "FRA",
        },
    }
    body.update(overrides)
    return body


def make_vin(wmi: str = "VF1", body: str = "RFB05", serial: str | None = None) -> str:
    """A VIN with a correct ISO 3779 check digit."""
    serial = serial or f"{secrets.randbelow(10**6):06d}"
    draft = f"{wmi}{body}0MA{serial}"  # position 9 is a placeholder for the check digit
    assert len(draft) == 17
    return draft[:8] + vin_check_digit(draft) + draft[9:]


def vehicle_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vin": make_vin(),
        "plate": f"AB-{secrets.randbelow(900) + 100}-CD",
        "plate_country": "FRA",
        "make": "Renault",
        "model": "Clio",
        "model_year": 2019,
        "colour": "grey",
        "status": "stolen",
        "stolen_on": "2025-01-05",
    }
    body.update(overrides)
    return body


def case_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": unique("FRA-2025-"),
        "title": "Vols de véhicules en bande organisée",
        "crime_types": ["0502", "0905"],
        "status": "under_investigation",
        "opened_on": "2025-02-01",
    }
    body.update(overrides)
    return body


def td3_lines(number: str = "34EF56789", family: str = "MARTIN", given: str = "CAMILLE") -> tuple[str, ...]:
    """A valid French passport MRZ (TD3) for a woman born 1990-01-02."""
    import datetime as dt

    from polex.domain.person import Sex
    from polex.formats.mrz import MrzFields, generate_td3

    return generate_td3(
        MrzFields(
            document_code="P",
            issuing_state="FRA",
            document_number=number,
            primary_identifier=family,
            secondary_identifier=given,
            nationality="FRA",
            birth_date=dt.date(1990, 1, 2),
            sex=Sex.FEMALE,
            expiry_date=dt.date(2030, 1, 1),
        )
    )


def red_notice_body(**overrides: Any) -> dict[str, Any]:
    """A complete red notice request: a fugitive wanted for prosecution for a homicide,
    on a court's arrest warrant, with enough identifiers and the penalty threshold met."""
    body: dict[str, Any] = {
        "notice_type": "red",
        "channel": "notice",
        "subject": {
            "names": [
                {"full": "Ivan Petrovich SOKOLOV", "given": "Ivan", "family": "SOKOLOV"},
                {"full": "Иван Петрович Соколов", "kind": "transliteration"},
            ],
            "sex": "male",
            "birth_dates": ["1979-04-12"],
            "nationalities": ["UKR"],
            "identifiers": [{"kind": "passport", "value": "FE123456", "country": "UKR"}],
            "physical": {"height_cm": 182, "eye_colour": "blue", "hair_colour": "brown"},
        },
        "summary": {"language": "en", "text": "Wanted for prosecution for the murder of a business partner in Kyiv."},
        "offences": [
            {
                "description": {
                    "language": "en",
                    "text": "Premeditated murder",
                    "translations": {"fr": "Meurtre avec préméditation"},
                },
                "iccs": "0101",
                "committed_on": "2021-06-03",
                "place": {"place": "Kyiv", "country": "UKR"},
                "law": "Criminal Code of Ukraine, art. 115",
                "max_penalty_months": 180,
            }
        ],
        "legal_basis": [
            {
                "kind": "arrest_warrant",
                "reference": "757/1234/21",
                "issuing_authority": "Shevchenkivskyi District Court of Kyiv",
                "issued_on": "2021-09-01",
                "issuing_country": "UKR",
            }
        ],
    }
    body.update(overrides)
    return body


def diffusion_body(**overrides: Any) -> dict[str, Any]:
    """A blue diffusion (locate a witness) sent to a few countries."""
    body: dict[str, Any] = {
        "notice_type": "blue",
        "channel": "diffusion",
        "subject": {
            "names": [{"full": "Maria GARCIA LOPEZ", "given": "Maria", "family": "GARCIA LOPEZ"}],
            "sex": "female",
            "birth_dates": ["1990"],
            "nationalities": ["ESP"],
        },
        "summary": {"language": "es", "text": "Se busca su paradero como testigo de un robo a mano armada."},
        "recipients": ["FRA", "DEU"],
    }
    body.update(overrides)
    return body
