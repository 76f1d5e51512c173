"""The notice pre-checks: what a hub reviewer is shown about a request before deciding.

Each test builds a realistic request from one complete red notice (a fugitive wanted in
France for a homicide) and changes what the case is about.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polex.domain.base import new_id
from polex.domain.notice import (
    BUILTIN_TYPES,
    AttachmentKind,
    LegalBasis,
    LocalText,
    MissingEvent,
    NoticeAttachment,
    NoticeRequest,
    NoticeTypeSpec,
    Offence,
    Sentence,
    UnidentifiedBody,
)
from polex.domain.notice_checks import (
    CheckKind,
    Finding,
    PossibleDuplicate,
    Severity,
    precheck,
)
from polex.domain.person import (
    NameKind,
    Person,
    PersonIdentifier,
    PersonName,
    PhysicalDescription,
    Place,
)

TODAY = dt.date(2026, 11, 1)
SPECS: dict[str, NoticeTypeSpec] = {spec.code: spec for spec in BUILTIN_TYPES}


# -- factories --------------------------------------------------------------------------------


def _attachment(kind: AttachmentKind = AttachmentKind.PHOTO) -> NoticeAttachment:
    return NoticeAttachment(
        id=new_id(),
        kind=kind,
        media_type="image/jpeg" if kind is AttachmentKind.PHOTO else "application/octet-stream",
        sha256="3f" * 32,
        size=48_213,
    )


def _person(**changes: Any) -> Person:
    fields: dict[str, Any] = {
        "names": [PersonName(full="Jean-Marc DUVAL", given="Jean-Marc", family="DUVAL")],
        "sex": "male",
        "birth_dates": ["1984-06-12"],
        "nationalities": ["FRA"],
        "identifiers": [PersonIdentifier(kind="passport", value="19FR48213", country="FRA")],
    }
    return Person(**{**fields, **changes})


def _text(text: str, language: str = "en", **translations: str) -> LocalText:
    """A text and its translations; a translation into the original's language is dropped."""
    others = {code: value for code, value in translations.items() if code != language}
    return LocalText(language=language, text=text, translations=others)


def _offence(
    text: str = "Intentional homicide: shot a jeweller dead during an armed robbery of his shop", **changes: Any
) -> Offence:
    language = changes.pop("language", "en")
    translations = changes.pop("translations", {})
    fields: dict[str, Any] = {
        "description": _text(text, language, **translations),
        "iccs": "0101",
        "committed_on": "2021-03-03",
        "place": Place(place="Lyon", country="FRA"),
        "law": "Code pénal, art. 221-1",
        "max_penalty_months": 240,
    }
    return Offence(**{**fields, **changes})


def _warrant(**changes: Any) -> LegalBasis:
    fields: dict[str, Any] = {
        "kind": "arrest_warrant",
        "reference": "MA-2021-0457",
        "issuing_authority": "Juge d'instruction, Tribunal judiciaire de Lyon",
        "issued_on": dt.date(2021, 4, 2),
        "issuing_country": "FRA",
        "valid_until": dt.date(2036, 4, 2),
    }
    return LegalBasis(**{**fields, **changes})


def _judgement(**changes: Any) -> LegalBasis:
    fields: dict[str, Any] = {
        "kind": "judgement",
        "reference": "CA-Lyon-2019-1187",
        "issuing_authority": "Cour d'appel de Lyon",
        "issued_on": dt.date(2019, 9, 16),
        "issuing_country": "FRA",
    }
    return LegalBasis(**{**fields, **changes})


def _red(**changes: Any) -> NoticeRequest:
    fields: dict[str, Any] = {
        "notice_type": "red",
        "subject": _person(),
        "summary": _text(
            "Recherché pour l'homicide volontaire d'un bijoutier à Lyon le 3 mars 2021.",
            "fr",
            en="Wanted for the intentional homicide of a jeweller in Lyon on 3 March 2021.",
        ),
        "offences": [_offence()],
        "legal_basis": [_warrant()],
        "attachments": [_attachment()],
    }
    return NoticeRequest(**{**fields, **changes})


def _check(request: NoticeRequest, **kwargs: Any) -> list[Finding]:
    return precheck(request, SPECS[request.notice_type], today=TODAY, **kwargs)


def _codes(findings: list[Finding], severity: Severity | None = None) -> list[str]:
    return [finding.code for finding in findings if severity is None or finding.severity is severity]


def _one(findings: list[Finding], code: str) -> Finding:
    matching = [finding for finding in findings if finding.code == code]
    assert len(matching) == 1, _codes(findings)
    return matching[0]


# -- a complete request -----------------------------------------------------------------------


def test_a_complete_red_notice_for_a_homicide_raises_nothing() -> None:
    assert _check(_red()) == []


def test_the_spec_must_be_the_requests_type() -> None:
    with pytest.raises(ValueError, match="'red' request, not 'yellow'"):
        precheck(_red(), SPECS["yellow"], today=TODAY)


# -- required: legal basis and penalty threshold ----------------------------------------------


def test_a_red_notice_without_a_warrant_or_judgement_is_blocked() -> None:
    finding = _one(_check(_red(legal_basis=[])), "required.legal_basis")

    assert finding.severity is Severity.BLOCKING
    assert finding.field == "legal_basis"


def test_an_expired_warrant_is_blocking() -> None:
    findings = _check(_red(legal_basis=[_warrant(valid_until=dt.date(2026, 10, 31))]))

    finding = _one(findings, "required.legal_basis_expired")
    assert finding.severity is Severity.BLOCKING
    assert finding.field == "legal_basis[0].valid_until"
    assert finding.evidence == "2026-10-31"
    assert "MA-2021-0457" in finding.message


def test_a_warrant_valid_until_today_is_still_in_force() -> None:
    assert _check(_red(legal_basis=[_warrant(valid_until=TODAY)])) == []


def test_prosecution_for_an_offence_punishable_by_12_months_is_below_the_threshold() -> None:
    request = _red(offences=[_offence("Theft of a mobile phone", iccs="0502", max_penalty_months=12)])

    finding = _one(_check(request), "required.penalty_threshold")
    assert finding.severity is Severity.BLOCKING
    assert finding.field == "offences[0].max_penalty_months"
    assert finding.evidence == "12 months"
    assert "2-year threshold" in finding.message


def test_the_threshold_is_met_by_any_one_offence() -> None:
    request = _red(offences=[_offence("Theft of a car", iccs="0502", max_penalty_months=12), _offence()])

    assert "required.penalty_threshold" not in _codes(_check(request))


def test_a_missing_maximum_penalty_blocks_because_the_threshold_cannot_be_verified() -> None:
    findings = _check(_red(offences=[_offence(max_penalty_months=None)]))

    finding = _one(findings, "required.penalty_threshold")
    assert finding.severity is Severity.BLOCKING
    assert "cannot be verified" in finding.message


def test_a_judgement_with_four_months_left_to_serve_is_blocked() -> None:
    request = _red(legal_basis=[_judgement()], sentence=Sentence(imposed_months=36, remaining_months=4))

    finding = _one(_check(request), "required.penalty_threshold")
    assert finding.field == "sentence.remaining_months"
    assert finding.evidence == "4 months"
    assert "6-month threshold" in finding.message


def test_a_judgement_with_thirty_months_left_to_serve_passes_the_threshold() -> None:
    # The sentence path does not look at the offences' penalties.
    request = _red(
        offences=[
            _offence(
                "Aggravated fraud against elderly victims", iccs="0701", committed_on="2017-10", max_penalty_months=None
            )
        ],
        legal_basis=[_judgement()],
        sentence=Sentence(imposed_months=60, remaining_months=30),
    )

    assert _check(request) == []


def test_either_path_satisfies_the_threshold() -> None:
    request = _red(
        offences=[_offence("Theft of a car", iccs="0502", max_penalty_months=12)],
        legal_basis=[_warrant(), _judgement()],
        sentence=Sentence(imposed_months=24, remaining_months=18),
    )

    assert "required.penalty_threshold" not in _codes(_check(request))


def test_when_both_paths_fail_each_is_reported() -> None:
    request = _red(
        offences=[_offence("Theft of a car", iccs="0502", max_penalty_months=12)],
        legal_basis=[_warrant(), _judgement()],
        sentence=Sentence(imposed_months=24, remaining_months=2),
    )

    fields = [f.field for f in _check(request) if f.code == "required.penalty_threshold"]
    assert fields == ["offences[0].max_penalty_months", "sentence.remaining_months"]


def test_a_judgement_without_a_sentence_blocks_once_and_is_not_noted_again() -> None:
    findings = _check(_red(legal_basis=[_judgement()]))

    assert _one(findings, "required.penalty_threshold").field == "sentence"
    assert "data_quality.judgement_without_sentence" not in _codes(findings)


def test_a_judgement_without_a_sentence_is_noted_when_a_warrant_meets_the_threshold() -> None:
    findings = _check(_red(legal_basis=[_warrant(), _judgement()]))

    assert _codes(findings) == ["data_quality.judgement_without_sentence"]


# -- required: the person ---------------------------------------------------------------------


def test_a_red_notice_without_a_subject_is_blocked_once() -> None:
    findings = _check(_red(subject=None))

    assert _codes(findings, Severity.BLOCKING) == ["required.subject"]


def test_a_single_name_and_no_particulars_do_not_identify_a_person() -> None:
    person = Person(names=[PersonName(full="DUVAL")], nationalities=["FRA"])

    findings = _check(_red(subject=person, attachments=[]))

    assert _codes(findings, Severity.BLOCKING) == ["required.identifiers.name", "required.identifiers.particulars"]
    assert _one(findings, "required.identifiers.name").evidence == "DUVAL"


@pytest.mark.parametrize(
    "enough",
    [
        {"person": {"birth_dates": ["1984"]}},
        {"person": {"identifiers": [PersonIdentifier(kind="national_id", value="840612-123")]}},
        {"person": {"physical": PhysicalDescription(height_cm=182, marks=[{"kind": "scar", "location": "chin"}])}},
        {"person": {"biometrics": [{"modality": "fingerprints", "reference": "FRA-AFIS-2021-88812"}]}},
        {"attachments": [AttachmentKind.PHOTO]},
        {"attachments": [AttachmentKind.FINGERPRINTS]},
    ],
)
def test_one_identifying_particular_besides_the_name_is_enough(enough: dict[str, Any]) -> None:
    person = Person(names=[PersonName(full="Jean-Marc DUVAL")], **enough.get("person", {}))
    attachments = [_attachment(kind) for kind in enough.get("attachments", [])]

    findings = _check(_red(subject=person, attachments=attachments))

    assert _codes(findings, Severity.BLOCKING) == []


def test_an_eye_colour_of_unknown_is_no_description() -> None:
    person = Person(names=[PersonName(full="Jean-Marc DUVAL")], physical=PhysicalDescription(eye_colour="unknown"))

    assert "required.identifiers.particulars" in _codes(_check(_red(subject=person, attachments=[])))


# -- required: the other types ----------------------------------------------------------------


def _missing_child() -> Person:
    return _person(
        names=[PersonName(full="Lina Haddad", given="Lina", family="Haddad")],
        sex="female",
        birth_dates=["2013-02-07"],
        identifiers=[],
    )


def test_a_yellow_notice_needs_the_missing_event() -> None:
    request = NoticeRequest(notice_type="yellow", subject=_missing_child(), attachments=[_attachment()])

    findings = _check(request)

    assert _codes(findings, Severity.BLOCKING) == ["required.missing_event"]
    assert _one(findings, "required.missing_event").field == "missing"


def test_a_yellow_notice_for_a_missing_child_raises_no_concern_about_minors() -> None:
    request = NoticeRequest(
        notice_type="yellow",
        subject=_missing_child(),
        missing=MissingEvent(date_of_event="2026-08-14", place=Place(place="Marseille", country="FRA")),
        attachments=[_attachment()],
    )

    assert _check(request) == []


def test_a_black_notice_with_a_body_described_is_complete() -> None:
    request = NoticeRequest(
        notice_type="black",
        body=UnidentifiedBody(
            found_on=dt.date(2026, 9, 30),
            place=Place(place="Rhône river, Arles", country="FRA"),
            sex="male",
            estimated_age_min=30,
            estimated_age_max=45,
            physical=PhysicalDescription(height_cm=176, marks=[{"kind": "tattoo", "location": "left forearm"}]),
        ),
    )

    assert _check(request) == []


def test_a_black_notice_without_a_body_is_blocked_once() -> None:
    findings = _check(NoticeRequest(notice_type="black"))

    assert _codes(findings) == ["required.body"]


def test_a_purple_notice_needs_its_modus_operandi() -> None:
    assert _codes(_check(NoticeRequest(notice_type="purple"))) == ["required.modus_operandi"]

    request = NoticeRequest(
        notice_type="purple",
        modus_operandi=_text("Cocaine dissolved in the fibres of suitcases' lining, recovered by solvent bath."),
    )
    assert _check(request) == []


def test_an_orange_notice_needs_a_threat_but_no_person() -> None:
    assert _codes(_check(NoticeRequest(notice_type="orange"))) == ["required.threat"]
    assert _check(NoticeRequest(notice_type="orange", threat=_text("Parcel bombs posted to courts."))) == []


def test_a_blue_notice_needs_a_summary() -> None:
    request = NoticeRequest(notice_type="blue", subject=_person(), attachments=[_attachment()])

    assert _codes(_check(request)) == ["required.reason"]


def _un_special(**changes: Any) -> NoticeRequest:
    fields: dict[str, Any] = {
        "notice_type": "un_special",
        "subject": _person(names=[PersonName(full="Abu Mohammed AL-ADNANI", given="Abu Mohammed", family="AL-ADNANI")]),
        "attachments": [_attachment()],
    }
    return NoticeRequest(**{**fields, **changes})


def test_a_un_special_notice_with_its_sanctions_reference_is_complete() -> None:
    assert _check(_un_special(sanctions_reference="QDi.325")) == []


def test_a_un_special_notice_without_a_sanctions_reference_is_blocked() -> None:
    finding = _one(_check(_un_special()), "required.sanctions_reference")

    assert finding.severity is Severity.BLOCKING


def test_a_malformed_sanctions_reference_is_a_note() -> None:
    finding = _one(_check(_un_special(sanctions_reference="QDI-325")), "data_quality.sanctions_reference")

    assert finding.severity is Severity.NOTE
    assert finding.evidence == "QDI-325"


# -- Article 3 --------------------------------------------------------------------------------


def test_desertion_from_the_armed_forces_is_an_article_3_concern() -> None:
    request = _red(
        offences=[
            _offence(
                "Desertion from the armed forces with his service weapon",
                iccs="0809",
                law="Military Penal Code, art. 114",
                max_penalty_months=60,
            )
        ]
    )

    findings = _check(request)

    military = [finding for finding in findings if finding.code == "article_3.military_offence"]
    assert [(f.field, f.evidence) for f in military] == [
        ("offences[0].description", "Desertion"),
        ("offences[0].law", "Military Penal Code"),
    ]
    assert all(finding.severity is Severity.CONCERN for finding in military)
    assert "purely military" in military[0].message
    assert "military law" in military[1].message
    overall = _one(findings, "article_3.all_offences")
    assert overall.field == "offences"
    assert _codes(findings, Severity.BLOCKING) == []


@pytest.mark.parametrize(
    ("language", "text", "evidence"),
    [
        ("en", "Insulting the President of the Republic in a video", "Insulting the President"),
        ("fr", "Offense au Président de la République par voie de presse", "Offense au Président de la République"),
        ("es", "Injurias al Presidente de la República en redes sociales", "Injurias al Presidente de la República"),
        ("ar", "إهانة رئيس الدولة عبر مواقع التواصل الاجتماعي", "إهانة رئيس الدولة"),
        ("ar", "الإساءة لرئيس الجمهورية", "الإساءة لرئيس الجمهورية"),
    ],
)
def test_insulting_the_head_of_state_is_a_political_concern_in_every_working_language(
    language: str, text: str, evidence: str
) -> None:
    translations = {} if language in ("en", "fr") else {"en": "Insult to the head of state"}
    request = _red(offences=[_offence(text, language=language, translations=translations, iccs="0209")])

    finding = _one(_check(request), "article_3.political_offence")

    assert finding.field == "offences[0].description"
    assert finding.evidence == evidence


def test_a_finding_in_a_translation_points_at_the_translation() -> None:
    request = _red(
        summary=_text("مطلوب في قضية رأي", "ar", en="Wanted for sedition after a speech in the main square."),
    )

    finding = _one(_check(request), "article_3.political_offence")

    assert finding.field == "summary.translations.en"
    assert finding.evidence == "sedition"


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Blasphemy in a post on social media"),
        ("fr", "Blasphème et outrage aux sentiments religieux"),
        ("es", "Escarnio de los sentimientos religiosos"),
        ("ar", "ازدراء الأديان"),
        ("ar", "متهم بالردة عن الإسلام"),
    ],
)
def test_offences_against_religion_are_a_religious_concern(language: str, text: str) -> None:
    request = _red(offences=[_offence(text, language=language, translations={"en": "Religious offence"}, iccs=None)])

    assert "article_3.religious_offence" in _codes(_check(request))


def test_treasure_theft_is_not_treason() -> None:
    request = _red(
        offences=[
            _offence("Theft of a buried treasure from an archaeological site", iccs="0502", law="Penal Code art. 311")
        ]
    )

    assert [f for f in _check(request) if f.check is CheckKind.ARTICLE_3] == []


def test_a_reaction_is_not_apostasy_and_a_breach_of_trust_is_not_treason() -> None:
    request = _red(
        offences=[
            _offence(
                "خيانة الأمانة واختلاس أموال الشركة كردة فعل على فصله",
                language="ar",
                iccs="0709",
                translations={"fr": "Abus de confiance"},
            )
        ]
    )

    assert [f for f in _check(request) if f.check is CheckKind.ARTICLE_3] == []


def test_treason_alongside_an_ordinary_crime_asks_for_the_predominance_test() -> None:
    request = _red(offences=[_offence(), _offence("High treason", iccs="0904", max_penalty_months=1200)])

    findings = _check(request)

    assert _one(findings, "article_3.political_context").field == "offences[1].description"
    mixed = _one(findings, "article_3.mixed_offences")
    assert mixed.evidence == "offences[1]"
    assert "terrorist act" in mixed.message
    assert "article_3.all_offences" not in _codes(findings)
    # The ICCS hint is not repeated where the words already said it.
    assert "article_3.iccs_division" not in _codes(findings)


def test_an_iccs_division_against_state_security_is_a_weaker_hint() -> None:
    request = _red(offences=[_offence("Passing classified documents to a third party", iccs="0904")])

    findings = _check(request)

    hint = _one(findings, "article_3.iccs_division")
    assert hint.field == "offences[0].iccs"
    assert "Acts against state security" in hint.message
    assert "hints" in hint.message
    assert _one(findings, "article_3.all_offences").evidence == "offences[0]"


def test_a_warrant_from_a_military_court_is_a_concern() -> None:
    request = _red(
        legal_basis=[_warrant(issuing_authority="Tribunal militaire permanent de Rabat", issuing_country="MAR")]
    )

    finding = _one(_check(request), "article_3.special_court")

    assert finding.field == "legal_basis[0].issuing_authority"
    assert finding.evidence == "Tribunal militaire"


# -- human rights -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Homosexual acts contrary to section 377"),
        ("fr", "Relations homosexuelles"),
        ("es", "Adulterio"),
        ("ar", "جريمة الزنا"),
        ("en", "Immoral behaviour in a public place"),
    ],
)
def test_offences_criminalising_private_life_are_a_human_rights_concern(language: str, text: str) -> None:
    request = _red(offences=[_offence(text, language=language, translations={"en": "Offence"}, iccs=None)])

    finding = _one(_check(request), "human_rights.protected_conduct")

    assert finding.severity is Severity.CONCERN


def test_lese_majeste_is_both_political_and_a_restriction_of_expression() -> None:
    request = _red(offences=[_offence("Lèse-majesté (Criminal Code, section 112)", language="en", iccs="0209")])

    codes = _codes(_check(request))

    assert "article_3.political_offence" in codes
    assert "human_rights.protected_conduct" in codes


@pytest.mark.parametrize(
    "summary",
    [
        _text("The offence is punishable by the death penalty."),
        _text("Le crime est passible de la peine de mort.", "fr"),
        _text("El delito está castigado con la pena de muerte.", "es", en="Capital crime."),
        _text("الجريمة معاقب عليها بالإعدام", "ar", fr="Crime capital."),
    ],
)
def test_wording_of_the_death_penalty_is_a_concern(summary: LocalText) -> None:
    finding = _one(_check(_red(summary=summary)), "human_rights.death_penalty")

    assert (finding.field or "").startswith("summary")
    assert "assurances" in finding.message


@pytest.mark.parametrize(
    "remarks",
    [
        "Granted asylum in Sweden in 2022.",
        "Se declara refugiado.",
        "Il a obtenu le statut de réfugié.",
        "لاجئ في الأردن",
    ],
)
def test_a_refugee_hint_is_a_concern_for_a_red_notice(remarks: str) -> None:
    finding = _one(_check(_red(subject=_person(remarks=remarks))), "human_rights.refugee")

    assert finding.field == "subject.remarks"


def test_a_refugee_nationality_code_is_a_concern() -> None:
    finding = _one(_check(_red(subject=_person(nationalities=["SYR", "XXB"]))), "human_rights.refugee")

    assert finding.field == "subject.nationalities[1]"
    assert finding.evidence == "XXB"


def test_refugees_and_death_penalty_concern_only_types_that_seek_an_arrest() -> None:
    request = NoticeRequest(
        notice_type="blue",
        subject=_person(remarks="Refugee status recognised in Germany."),
        summary=_text("Location sought; the offence carries the death penalty in the requesting country."),
        attachments=[_attachment()],
    )

    assert _check(request) == []


def test_a_minor_subject_of_a_red_notice_is_a_concern() -> None:
    finding = _one(_check(_red(subject=_person(birth_dates=["2010-05-01"]))), "human_rights.minor")

    assert finding.field == "subject.birth_dates[0]"
    assert "16" in finding.message


def test_a_child_under_fourteen_is_a_stronger_concern() -> None:
    findings = _check(
        _red(subject=_person(birth_dates=["1990", "2014-01-20"]), offences=[_offence(committed_on="2025-06")])
    )

    finding = _one(findings, "human_rights.child")
    assert finding.field == "subject.birth_dates[1]"
    assert "human_rights.minor" not in _codes(findings)


def test_a_year_of_birth_that_may_make_the_person_a_minor_is_a_concern() -> None:
    # Born in 2008: 17 or 18 on 1 November 2026.
    assert "human_rights.minor" in _codes(_check(_red(subject=_person(birth_dates=["2008"]))))


def test_an_adult_wanted_for_an_offence_committed_as_a_child_is_a_concern() -> None:
    request = _red(subject=_person(birth_dates=["2002-09-01"]), offences=[_offence(committed_on="2019-05-10")])

    finding = _one(_check(request), "human_rights.minor_at_offence")

    assert finding.field == "offences[0].committed_on"


def test_an_iccs_division_on_sexual_standards_is_a_human_rights_hint() -> None:
    request = _red(offences=[_offence("Acts contrary to article 230", iccs="0802")])

    assert _one(_check(request), "human_rights.iccs_division").field == "offences[0].iccs"


# -- data quality -----------------------------------------------------------------------------


def test_a_person_named_only_in_arabic_script_needs_a_transliteration() -> None:
    arabic = PersonName(full="خالد منصور", given="خالد", family="منصور")
    findings = _check(_red(subject=_person(names=[arabic])))

    finding = _one(findings, "data_quality.no_latin_name")
    assert finding.severity is Severity.NOTE
    assert finding.evidence == "خالد منصور"

    latin = PersonName(full="Khaled MANSOUR", given="Khaled", family="MANSOUR", kind=NameKind.TRANSLITERATION)
    assert _check(_red(subject=_person(names=[arabic, latin]))) == []


def test_implausible_birth_dates_are_noted() -> None:
    old = _one(_check(_red(subject=_person(birth_dates=["1921-03-02"]))), "data_quality.implausible_birth_date")
    assert "older than 100" in old.message

    young = _check(_red(subject=_person(birth_dates=["2019"])))
    assert "younger than 10" in _one(young, "data_quality.implausible_birth_date").message
    assert "human_rights.child" in _codes(young)


def test_an_offence_after_every_warrant_is_noted() -> None:
    request = _red(offences=[_offence(committed_on="2022-01")])

    finding = _one(_check(request), "data_quality.offence_after_legal_basis")
    assert finding.field == "offences[0].committed_on"


def test_an_offence_covered_by_a_later_warrant_is_not_noted() -> None:
    request = _red(
        offences=[_offence(), _offence(committed_on="2022-01")],
        legal_basis=[_warrant(), _warrant(reference="MA-2022-0111", issued_on=dt.date(2022, 3, 1))],
    )

    assert "data_quality.offence_after_legal_basis" not in _codes(_check(request))


def test_a_warrant_more_than_twenty_years_old_is_noted() -> None:
    request = _red(
        offences=[_offence(committed_on="2003-11-20")],
        legal_basis=[_warrant(issued_on=dt.date(2004, 2, 9), valid_until=None)],
    )

    assert _codes(_check(request)) == ["data_quality.old_legal_basis"]


def test_texts_without_english_or_french_are_noted() -> None:
    request = _red(summary=_text("Buscado por homicidio en Lyon.", "es", ar="مطلوب بتهمة القتل"))

    finding = _one(_check(request), "data_quality.no_translation")
    assert finding.field == "summary"
    assert finding.evidence == "es"


def test_missing_nationality_and_photo_are_noted() -> None:
    findings = _check(_red(subject=_person(nationalities=[]), attachments=[]))

    assert _codes(findings) == ["data_quality.no_nationality", "data_quality.no_photo"]
    assert all(finding.severity is Severity.NOTE for finding in findings)


# -- duplicates -------------------------------------------------------------------------------


def _duplicate(**changes: Any) -> PossibleDuplicate:
    fields: dict[str, Any] = {
        "notice_id": "019355d2-8c1e-7b3a-9f10-2a4c6e8b0d13",
        "reference": "2024/48213",
        "channel": "notice",
        "notice_type": "red",
        "status": "published",
        "owner_country": "FRA",
        "score": 0.96,
    }
    return PossibleDuplicate(**{**fields, **changes})


def test_a_close_match_in_force_is_a_concern_and_others_are_notes() -> None:
    duplicates = [
        _duplicate(notice_id="019355d2-0000-7000-8000-000000000003", reference=None, status="draft", score=0.97),
        _duplicate(),
        _duplicate(notice_id="019355d2-0000-7000-8000-000000000002", reference="2023/100", score=0.75),
        _duplicate(
            notice_id="019355d2-0000-7000-8000-000000000004",
            reference=None,
            channel="diffusion",
            status="submitted",
            owner_country="BEL",
            score=0.9,
        ),
    ]

    findings = _check(_red(), duplicates=duplicates)

    assert [(f.code, f.severity, f.evidence) for f in findings] == [
        ("duplicate.possible", Severity.NOTE, "019355d2-0000-7000-8000-000000000003"),
        ("duplicate.likely", Severity.CONCERN, "019355d2-8c1e-7b3a-9f10-2a4c6e8b0d13"),
        ("duplicate.likely", Severity.CONCERN, "019355d2-0000-7000-8000-000000000004"),
        ("duplicate.possible", Severity.NOTE, "019355d2-0000-7000-8000-000000000002"),
    ]
    published = findings[1]
    assert published.check is CheckKind.DUPLICATE
    assert published.field is None
    for words in ("2024/48213", "red notice", "published", "FRA", "0.96"):
        assert words in published.message
    assert "019355d2-0000-7000-8000-000000000004" in findings[2].message  # no reference: named by its id
    assert "diffusion" in findings[2].message


def test_a_finding_as_a_dict_is_plain_json() -> None:
    finding = _one(_check(_red(legal_basis=[])), "required.legal_basis")

    data = finding.as_dict()

    assert data == {
        "check": "required",
        "code": "required.legal_basis",
        "severity": "blocking",
        "message": finding.message,
        "field": "legal_basis",
        "evidence": None,
    }
    assert json.loads(json.dumps(data)) == data


# -- order ------------------------------------------------------------------------------------


def test_findings_come_in_a_fixed_order_whatever_the_order_of_the_duplicates() -> None:
    request = _red(
        subject=_person(birth_dates=["2010-05-01"], nationalities=[]),
        summary=_text("Buscado por deserción.", "es"),
        offences=[_offence("Desertion", iccs="0809", max_penalty_months=12)],
        attachments=[],
    )
    duplicates = [_duplicate(), _duplicate(notice_id="019355d2-0000-7000-8000-000000000002", score=0.5)]

    first = _check(request, duplicates=duplicates)
    second = _check(request, duplicates=list(reversed(duplicates)))

    assert first == second
    assert [finding.check for finding in first] == sorted(
        (finding.check for finding in first), key=list(CheckKind).index
    )
    assert {finding.check for finding in first} == set(CheckKind)
    assert _codes(first) == [
        "required.penalty_threshold",
        "article_3.all_offences",
        "article_3.military_offence",
        "article_3.military_offence",
        "human_rights.minor",
        "data_quality.no_nationality",
        "data_quality.no_photo",
        "data_quality.no_translation",
        "duplicate.likely",
        "duplicate.possible",
    ]


# -- properties -------------------------------------------------------------------------------

_DESCRIPTIONS = [
    ("en", "Intentional homicide of a shopkeeper"),
    ("en", "Theft of a buried treasure"),
    ("en", "Desertion from the army"),
    ("fr", "Outrage au chef de l'État"),
    ("es", "Tráfico de drogas"),
    ("es", "Pertenencia a un partido político ilegal"),
    ("ar", "الاتجار بالمخدرات"),
    ("ar", "الإساءة إلى الذات الإلهية"),
    ("en", "Adultery; punishable by the death penalty"),
]
_PAST_DATES = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2026, 10, 31))
_PARTIAL_DATES = _PAST_DATES.flatmap(
    lambda day: st.sampled_from([day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]])
)


@st.composite
def _offences(draw: st.DrawFn) -> Offence:
    language, text = draw(st.sampled_from(_DESCRIPTIONS))
    translations = draw(st.sampled_from([{}, {"en": "Offence"}, {"fr": "Infraction"}]))
    translations = {k: v for k, v in translations.items() if k != language}
    return Offence(
        description=LocalText(language=language, text=text, translations=translations),
        iccs=draw(st.sampled_from([None, "0101", "0502", "0802", "0803", "0904", "09041", "0601"])),
        committed_on=draw(st.none() | _PARTIAL_DATES),
        law=draw(st.sampled_from([None, "Penal Code art. 111", "Code de justice militaire, art. L321-2"])),
        max_penalty_months=draw(st.none() | st.integers(min_value=0, max_value=1200)),
    )


@st.composite
def _legal_bases(draw: st.DrawFn) -> LegalBasis:
    return LegalBasis(
        kind=draw(st.sampled_from(["arrest_warrant", "judgement"])),
        reference="REF-1",
        issuing_authority=draw(st.sampled_from(["Tribunal judiciaire de Paris", "Military Court of Appeal"])),
        issued_on=draw(_PAST_DATES),
        issuing_country="FRA",
        valid_until=draw(st.none() | st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1))),
    )


@st.composite
def _sentences(draw: st.DrawFn) -> Sentence:
    imposed = draw(st.integers(min_value=0, max_value=1200))
    return Sentence(imposed_months=imposed, remaining_months=draw(st.integers(min_value=0, max_value=imposed)))


@st.composite
def _requests(draw: st.DrawFn) -> NoticeRequest:
    spec = draw(st.sampled_from(BUILTIN_TYPES))
    subject = draw(
        st.none()
        | st.builds(
            _person,
            birth_dates=st.lists(_PARTIAL_DATES, max_size=2),
            nationalities=st.sampled_from([[], ["FRA"], ["SYR", "XXB"]]),
            remarks=st.sampled_from([None, "Claims asylum", "Nothing known"]),
        )
    )
    return NoticeRequest(
        notice_type=spec.code,
        subject=subject,
        summary=draw(st.none() | st.just(_text("Wanted for prosecution"))),
        offences=draw(st.lists(_offences(), max_size=3)),
        legal_basis=draw(st.lists(_legal_bases(), max_size=2)),
        sentence=draw(st.none() | _sentences()),
        sanctions_reference=draw(st.sampled_from([None, "QDi.431", "not-a-reference"])),
        attachments=draw(st.sampled_from([[], [_attachment()]])),
    )


_STEP = re.compile(r"^(?P<name>[a-z_]+)(?:\[(?P<index>\d+)\])?$")


def _resolve(root: Any, path: str) -> Any:
    """Walk a finding's field path through the request; fail if any step does not exist."""
    node = root
    for step in path.split("."):
        match = _STEP.match(step)
        assert match is not None, path
        name = match.group("name")
        if isinstance(node, dict):
            assert name in node, path
            node = node[name]
        else:
            assert name in type(node).model_fields, path
            node = getattr(node, name)
        if match.group("index") is not None:
            index = int(match.group("index"))
            assert isinstance(node, list), path
            assert index < len(node), path
            node = node[index]
    return node


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests(), today=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1)))
def test_precheck_never_fails_and_its_fields_point_into_the_request(request: NoticeRequest, today: dt.date) -> None:
    findings = precheck(request, SPECS[request.notice_type], today=today)

    assert findings == precheck(request, SPECS[request.notice_type], today=today)
    ranks = [list(CheckKind).index(finding.check) for finding in findings]
    assert ranks == sorted(ranks)
    for finding in findings:
        assert finding.message
        assert finding.code.split(".")[0] == finding.check.value
        if finding.field is not None:
            _resolve(request, finding.field)
        json.dumps(finding.as_dict())
