"""Automated compliance pre-checks of a notice request, for the hub's reviewer.

The pre-checks read a ``NoticeRequest`` against its ``NoticeTypeSpec`` and list what a
reviewer should look at. They never decide: a finding is a pointer with its reason, and the
reviewer may accept a request with findings or refuse one without any.

The model is INTERPOL's Rules on the Processing of Data (RPD) and its repository of practice
on Article 3 of the Constitution, which forbids the Organization "any intervention or
activities of a political, military, religious or racial character", read with Article 2
(respect for the Universal Declaration of Human Rights). Five kinds of check, reported in
this order:

- ``required``: data the type cannot be published without (``Requirement``), the legal basis
  and the penalty threshold of a red notice. Blocking.
- ``article_3``: wording, classifications and courts that suggest a predominantly political,
  military, religious or racial character. Concern.
- ``human_rights``: offences that criminalise the exercise of basic rights, the death penalty,
  minors, refugees. Concern.
- ``data_quality``: what makes a notice harder to act on. Note.
- ``duplicate``: notices the person matcher found for the same subject. Concern or note.

Wording is matched on folded text (case-folded, accents and Arabic vowel marks removed,
punctuation made spaces), word by word, in the four working languages; every text is screened
with every language's list because originals quote foreign legal terms. Arabic phrases allow
the attached article and prepositions (ال، بال، لل، و...) before each word and the common
suffixes after the last.
"""

# ruff: noqa: RUF001, RUF002
# The Arabic and French phrases below are written in their own script on purpose.

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from polex.domain.dates import partial_date_bounds
from polex.domain.iccs import ICCS_DIVISIONS
from polex.domain.notice import (
    AttachmentKind,
    Language,
    LegalBasisKind,
    LocalText,
    NoticeRequest,
    NoticeStatus,
    NoticeTypeSpec,
    Requirement,
    SubjectKind,
)
from polex.domain.person import EyeColour, HairColour, NameKind, Person, PhysicalDescription


class Severity(StrEnum):
    BLOCKING = "blocking"  # required data is missing or invalid: cannot be published as it is
    CONCERN = "concern"  # Article 3 / human rights: the reviewer must look at it
    NOTE = "note"  # data quality: worth fixing


class CheckKind(StrEnum):
    REQUIRED = "required"
    ARTICLE_3 = "article_3"
    HUMAN_RIGHTS = "human_rights"
    DATA_QUALITY = "data_quality"
    DUPLICATE = "duplicate"


_KIND_ORDER = {kind: rank for rank, kind in enumerate(CheckKind)}


@dataclass(frozen=True)
class Finding:
    """One thing the reviewer should look at.

    ``code`` is stable (``"required.legal_basis"``, ``"article_3.military_offence"``);
    ``field`` is the path of the request's field it is about (``"legal_basis[0].valid_until"``,
    ``"offences[1].description.translations.en"``), or None when it is about no one field;
    ``evidence`` is the value or the words, as written, that triggered it.
    """

    check: CheckKind
    code: str
    severity: Severity
    message: str
    field: str | None = None
    evidence: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "field": self.field,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class PossibleDuplicate:
    """A notice or diffusion the person matcher found for the request's subject."""

    notice_id: str
    reference: str | None
    channel: str
    notice_type: str
    status: str
    owner_country: str
    score: float


# -- thresholds -------------------------------------------------------------------------------

# RPD: a red notice for prosecution needs an offence punishable by at least two years; one to
# serve a sentence needs at least six months left to serve.
PROSECUTION_THRESHOLD_MONTHS = 24
SENTENCE_THRESHOLD_MONTHS = 6
LIFE_MONTHS = 1200
ADULT_AGE = 18
YOUNG_CHILD_AGE = 14  # below it most members hold a child below the age of criminal responsibility
OLDEST_PLAUSIBLE_AGE = 100
YOUNGEST_PLAUSIBLE_WANTED_AGE = 10
OLD_LEGAL_BASIS_YEARS = 20  # older warrants are often time-barred or superseded
DUPLICATE_CONCERN_SCORE = 0.9
_ACTIVE_STATUSES = frozenset({NoticeStatus.PUBLISHED.value, NoticeStatus.SUBMITTED.value})
# UN Security Council sanctions list references: committee letters, i (individual) or
# e (entity), a dot, the number: QDi.431, TAi.155, KPi.033, QDe.001.
SANCTIONS_REFERENCE = re.compile(r"^[A-Z]{2}[ie]\.\d{3}$")
# ICAO 9303 nationality codes for refugees (1951 Convention, and other).
_REFUGEE_NATIONALITIES = {"XXB": "refugee under the 1951 Convention", "XXC": "refugee (other than 1951 Convention)"}


# -- folding and matching ---------------------------------------------------------------------

_FOLD_SPECIAL = {
    "œ": "oe",
    "æ": "ae",
    "ـ": "",  # tatweel: a stretching stroke, not a letter
    "ة": "ه",  # taa marbuta is often typed as haa
    "ى": "ي",  # alif maqsura is often typed as yaa
}


def _fold_char(char: str) -> str:
    """Case-fold, decompose, and drop combining marks (accents, Arabic vowel marks and
    hamza carriers' hamza, so أ إ آ are ا)."""
    folded: list[str] = []
    for part in unicodedata.normalize("NFKD", char.casefold()):
        if unicodedata.category(part) == "Mn":
            continue
        folded.append(_FOLD_SPECIAL.get(part, part))
    return "".join(folded)


@dataclass(frozen=True)
class _Folded:
    """A text folded for matching, remembering where each folded character came from, so
    the evidence is quoted as the author wrote it."""

    source: str
    text: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, source: str) -> _Folded:
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(source):
            for part in _fold_char(char):
                letter = part if part.isalnum() or unicodedata.category(part).startswith("M") else " "
                if letter == " " and (not chars or chars[-1] == " "):
                    continue
                chars.append(letter)
                origin.append(index)
        if chars and chars[-1] == " ":
            chars.pop()
            origin.pop()
        return cls(source, "".join(chars), tuple(origin))

    def quote(self, start: int, end: int) -> str:
        return self.source[self.origin[start] : self.origin[end - 1] + 1]


_ARABIC_LETTERS = "\u0621-\u064a"
_HAS_ARABIC = re.compile(f"[{_ARABIC_LETTERS}]")
# Before an Arabic word: and/so, then by/as + the article, to + the article, or by/to/as.
_PROCLITICS = "(?:[وف]?(?:[بك]?ال|لل|[بلك])?)"
# After the last word: possessive and plural endings.
_ENCLITICS = "(?:ه|ها|هم|ي|يه|ات|ون|ين)?"
_ARABIC_WORD_START = re.compile(f"(?:^|(?<=[ (|:]))(?=[{_ARABIC_LETTERS}])")


def _compile(pattern: str) -> re.Pattern[str]:
    """A phrase pattern (a regular expression written in natural spelling, words separated
    by single spaces) compiled to match whole words of folded text.

    Folding the pattern as the text is folded lets the lists be written with their accents
    (lèse majesté, إهانة); patterns therefore use no upper-case escapes (``\\S``, ``\\W``).
    """
    folded = "".join(_fold_char(char) for char in pattern)
    if _HAS_ARABIC.search(folded):
        folded = f"(?:{_ARABIC_WORD_START.sub(_PROCLITICS, folded)}){_ENCLITICS}"
    return re.compile(rf"(?<!\w)(?:{folded})(?!\w)")


@dataclass(frozen=True)
class _Category:
    check: CheckKind
    code: str
    consequence: str  # why it matters, said to the reviewer after the reason
    arrest_only: bool = False  # only for types that seek an arrest (a legal basis)


@dataclass(frozen=True)
class _Term:
    category: _Category
    reason: str
    pattern: re.Pattern[str]


def _terms(category: _Category, entries: Sequence[tuple[str, Sequence[str]]]) -> tuple[_Term, ...]:
    return tuple(_Term(category, reason, _compile(pattern)) for reason, patterns in entries for pattern in patterns)


# -- Article 3: the wording -------------------------------------------------------------------

_MILITARY = _Category(
    CheckKind.ARTICLE_3,
    "article_3.military_offence",
    "Article 3 excludes purely military offences: the request may proceed only if the conduct is also "
    "an ordinary-law crime.",
)
_POLITICAL = _Category(
    CheckKind.ARTICLE_3,
    "article_3.political_offence",
    "Article 3 excludes offences of a predominantly political character: weigh the nature of the offence, "
    "the status of the person and the context.",
)
_POLITICAL_CONTEXT = _Category(
    CheckKind.ARTICLE_3,
    "article_3.political_context",
    "An offence against the state is not excluded as such, but it is political by nature: assess the context "
    "(violence, harm to persons or property, the person's status and activities).",
)
_RELIGIOUS = _Category(
    CheckKind.ARTICLE_3,
    "article_3.religious_offence",
    "Article 3 excludes offences of a religious character: an offence that punishes holding, changing, "
    "expressing or practising a belief cannot ground a notice.",
)
_RACIAL = _Category(
    CheckKind.ARTICLE_3,
    "article_3.racial_offence",
    "Article 3 excludes activities of a racial character: belonging to an ethnic, racial or tribal group is "
    "not an offence the network can act on.",
)
_SPECIAL_COURT = _Category(
    CheckKind.ARTICLE_3,
    "article_3.special_court",
    "Check that the offences are ordinary-law crimes and, for a civilian, that the exceptional jurisdiction "
    "does not make the proceedings political.",
)

_ARTICLE_3_TERMS: tuple[_Term, ...] = (
    *_terms(
        _MILITARY,
        [
            (
                "desertion is a purely military offence",
                [
                    r"desertion|deserters?|desert(?:ed|ing) (?:from )?(?:the |his |her |their )?(?:army|armed forces"
                    r"|military|military service|unit|post|ship|navy|air force|regiment)"
                    r"|absen(?:ce|t) without (?:official )?leave|awol",
                    r"desertion|deserteurs?",
                    r"desercion|desertor(?:es)?|abandono de destino",
                    r"(?:فرار|هروب) من (?:خدمة عسكرية|جندية|جيش|وحدة عسكرية)",
                ],
            ),
            (
                "insubordination (refusing a superior's orders) is a purely military offence",
                [
                    r"insubordination|refus(?:al|ing|ed)? to obey (?:an? |the )?(?:lawful )?(?:military )?"
                    r"(?:orders?|commands?)|disobe(?:dience|ying|yed) (?:to )?(?:an? |the )?(?:lawful )?military "
                    r"(?:orders?|commands?)",
                    r"insubordination|refus d obeissance|desobeissance militaire",
                    r"insubordinacion|desobediencia (?:militar|a (?:un |sus )?superior(?:es)?)",
                    r"عصيان (?:أوامر|عسكري)|رفض تنفيذ أوامر عسكرية",
                ],
            ),
            (
                "evading military service or mobilisation is a purely military offence",
                [
                    r"draft (?:evasion|evaders?|dodging|dodgers?)|evad(?:e|ed|es|ing) (?:the )?(?:draft|conscription"
                    r"|military service|mobili[sz]ation|call up)|evasion of (?:the )?(?:draft|conscription"
                    r"|military service|mobili[sz]ation)|fail(?:ure|ed|ing)? to (?:report|appear) for (?:military "
                    r"service|conscription|mobili[sz]ation|call up)",
                    r"insoumission|soustraction aux obligations (?:du service national|militaires)"
                    r"|refus de (?:servir|mobilisation)",
                    r"insumision|evasion del servicio militar|no incorporacion a filas",
                    r"(?:تهرب|تخلف) (?:من|عن) (?:تجنيد|خدمة عسكرية|خدمة إلزامية|خدمة علم)",
                ],
            ),
            (
                "refusing military service on grounds of conscience is protected as freedom of thought "
                "(ICCPR art. 18, as the UN Human Rights Committee reads it)",
                [
                    r"conscientious object(?:ion|ors?)",
                    r"objection de conscience|objecteurs? de conscience",
                    r"objecion de conciencia|objetor(?:es)? de conciencia",
                    r"استنكاف ضميري",
                ],
            ),
            (
                "mutiny is a purely military offence",
                [
                    r"mutin(?:y|ies|ied|eers?|ous)",
                    r"mutinerie|revolte militaire",
                    r"motin militar|sedicion militar|rebelion militar|amotinamiento",
                    r"تمرد عسكري",
                ],
            ),
            (
                "the offence is charged under military law",
                [
                    r"military (?:penal|criminal) code|(?:uniform )?code of military justice"
                    r"|military justice (?:code|act)",
                    r"code (?:de justice|penal) militaire",
                    r"codigo (?:penal|de justicia) militar",
                    r"قانون (?:عقوبات|قضاء|أحكام) عسكري",
                ],
            ),
        ],
    ),
    *_terms(
        _POLITICAL,
        [
            (
                "insulting or defaming the head of state, the authorities or state symbols is an offence of opinion",
                [
                    r"insult(?:s|ed|ing)?(?: (?:to|of|against))? (?:the )?(?:president|head of (?:the )?state|king"
                    r"|queen|monarch|emir|sultan|supreme leader|royal family|crown|authorities|public officials?"
                    r"|state officials?|government|national flag|flag|state symbols?|national anthem)"
                    r"|(?:defam(?:ation|ing)|slander(?:ing)?|libel(?:ling)?) (?:of |against )?(?:the )?(?:president"
                    r"|head of (?:the )?state|king|queen|monarch|royal family|supreme leader)|lese majeste"
                    r"|(?:contempt|disrespect) (?:of|for|to) (?:the )?(?:president|head of (?:the )?state|authorities"
                    r"|public officials?|flag|state symbols?)",
                    r"(?:offense|injure)s? (?:au|a la|envers le) (?:president(?: de la republique)?|chef de l etat"
                    r"|roi|souverain)|outrage (?:au|a la|a l|aux|a|envers le|envers les) (?:president|chef de l etat"
                    r"|roi|souverain|drapeau|hymne national|embleme national|magistrats?|fonctionnaires?"
                    r"|corps constitues|institutions|personne depositaire de l autorite publique)|lese majeste",
                    r"(?:injurias?|calumnias?|ofensas?|ultrajes?|agravios?) (?:al|a la|contra el|contra la|a los"
                    r"|contra los) (?:presidente(?: de la republica)?|jefe del? estado|rey|reina|corona|familia real"
                    r"|autoridad(?:es)?|funcionarios? publicos?|simbolos patrios|bandera|himno nacional)"
                    r"|desacato|vilipendio",
                    r"(?:إهانة|إساءة إلى|إساءة|سب|قذف|تطاول على|عيب في) (?:رئيس (?:دولة|جمهورية)|رئيس|ملك|أمير|سلطان"
                    r"|ذات (?:ملكية|أميرية|سلطانية)|علم|نشيد وطني|موظف عام|موظفين عموميين|سلطات)"
                    r"|مساس ذات (?:ملكية|أميرية|سلطانية)",
                ],
            ),
            (
                "sedition and incitement against the government punish political dissent",
                [
                    r"sedition|seditious|incit(?:ing|ement|ed|es)? (?:to )?(?:disaffection|hatred|rebellion|revolt"
                    r"|resistance) against (?:the )?(?:state|government|regime|authorities)",
                    r"sedition|incitation a la (?:revolte|rebellion|desobeissance) contre (?:l etat|le gouvernement"
                    r"|les autorites)",
                    r"sedicion|sedicios[oa]s?|incitacion a la (?:rebelion|sedicion)",
                    r"(?:إثارة|تحريض على) (?:فتنة|عصيان|تمرد)|فتنة طائفية|تحريض ضد (?:دولة|نظام|حكومة|سلطات)",
                ],
            ),
            (
                "subversion and attempts to change the constitutional order are offences against a political order",
                [
                    r"subversion|subversive|subvert(?:ing)? (?:the )?(?:state|state power|constitutional order"
                    r"|government)|(?:attempt(?:ing|ed)? to )?overthrow(?:ing)? (?:of )?(?:the )?(?:government|regime"
                    r"|constitutional order|state)|undermining (?:the )?(?:state|constitutional order|state power)"
                    r"|forcible seizure of power",
                    r"subversion|subversi(?:f|ve|fs|ves)|renversement (?:du gouvernement|du regime|de l ordre "
                    r"constitutionnel)|atteinte a l ordre constitutionnel|complot contre (?:l etat|le gouvernement)",
                    r"subversion|subversiv[oa]s?|rebelion|derrocamiento del gobierno|atentado contra el orden "
                    r"constitucional",
                    r"قلب نظام (?:حكم|دولة)|تقويض (?:نظام حكم|نظام|دولة)|إسقاط (?:نظام|حكومة)",
                ],
            ),
            (
                "membership of an opposition party or a banned organisation is political activity; check whether "
                "the organisation is in fact a criminal or terrorist group",
                [
                    r"(?:member(?:ship)? (?:of|in)|belonging to|participation in|participating in|joining|founding"
                    r"|leading|creating) (?:an? |the )?(?:banned|illegal|outlawed|prohibited|unlawful|unregistered"
                    r"|dissolved|opposition|proscribed|extremist) (?:political )?(?:party|parties|organi[sz]ations?"
                    r"|groups?|movements?|associations?|communit(?:y|ies))",
                    r"(?:appartenance|participation|adhesion) a (?:un |une )?(?:parti|organisation|association"
                    r"|mouvement|groupement)(?: politique)? (?:interdite?|dissoute?|illegale?|clandestine?"
                    r"|d opposition|non autorisee?)|reconstitution (?:de |d une |d un )?(?:ligue|parti|association"
                    r"|groupement) dissou(?:te|s)",
                    r"(?:pertenencia|afiliacion|militancia|participacion) (?:a|en) (?:un |una )?(?:partido"
                    r"|organizacion|asociacion|movimiento|agrupacion)(?: politic[oa])? (?:ilegal|prohibid[oa]"
                    r"|clandestin[oa]|disuelt[oa]|de oposicion|opositor[a]?|no registrad[oa])",
                    r"(?:انتماء|انضمام|عضوية) (?:إلى |في )?(?:حزب|جماعة|تنظيم|جمعية|حركة)(?: سياسية| سياسي)? "
                    r"(?:محظورة?|غير (?:مرخصة?|مشروعة?|قانونية?)|معارضة?|منحلة?)",
                ],
            ),
            (
                "taking part in or organising a protest exercises freedom of assembly",
                [
                    r"(?:unauthori[sz]ed|illegal|unlawful|unsanctioned|unpermitted|banned) (?:public )?"
                    r"(?:demonstrations?|protests?|assembl(?:y|ies)|gatherings?|rall(?:y|ies)|march(?:es)?"
                    r"|pickets?|strikes?|meetings?)|(?:organi[sz](?:ing|ed|ation of)|participat(?:ing|ion|ed) in"
                    r"|taking part in|calling for) (?:an? |the )?(?:demonstrations?|protests?|strikes?|rall(?:y|ies)"
                    r"|sit ins?|mass riots?)",
                    r"manifestation (?:non autorisee|non declaree|illicite|interdite)|(?:organisation|participation) "
                    r"(?:d une |d un |a une |a un )?(?:manifestation|attroupement|rassemblement)|attroupement",
                    r"(?:manifestacion(?:es)?|concentracion(?:es)?|reunion(?:es)?|protestas?|marchas?) "
                    r"(?:no autorizadas?|ilegal(?:es)?|ilicitas?|prohibidas?|no comunicadas?)",
                    r"(?:تظاهر|تظاهرة|مظاهر(?:ة|ات)|تجمهر|تجمع|احتجاج|مسيرة|اعتصام) غير (?:مرخصة?|مشروعة?|قانونية?"
                    r"|مصرح بها)|(?:تنظيم|مشاركة في|دعوة إلى) (?:تظاهرة|مظاهرة|احتجاج|اعتصام|إضراب|مسيرة)|تجمهر",
                ],
            ),
            (
                "defaming the state or its institutions, or spreading 'false news' about them, is an offence of "
                "opinion often brought against journalists and critics",
                [
                    r"(?:defam(?:ation|ing)|discredit(?:ing)?|denigrat(?:ion|ing)|disparag(?:ing|ement)) (?:of )?"
                    r"(?:the )?(?:state|nation|republic|country|armed forces|army|state institutions|government)"
                    r"|(?:spreading|dissemination of|disseminating|publishing|publication of) (?:deliberately )?"
                    r"(?:false|fake) (?:news|information|rumou?rs)",
                    r"(?:diffamation|denigrement|atteinte (?:au prestige|a l honneur|a l image|au moral)) "
                    r"(?:de |envers |a )?(?:l etat|la nation|l armee|la republique|les institutions)"
                    r"|(?:diffusion|propagation|publication) de fausses (?:nouvelles|informations)",
                    r"(?:difamacion|injurias?|ofensas?|ultrajes?|vilipendio) (?:del|al|contra el|contra la|a la|de la) "
                    r"(?:estado|nacion|patria|republica|fuerzas armadas|ejercito|instituciones)|ultrajes? a espana"
                    r"|(?:difusion|divulgacion|propagacion|publicacion) de (?:noticias|informaciones|informacion) "
                    r"falsas?",
                    r"(?:إساءة إلى|إساءة|مساس|نيل من) (?:هيبة دولة|سمعة دولة|مؤسسات دولة|دولة|جيش|قوات مسلحة)"
                    r"|نشر (?:أخبار|إشاعات|شائعات|معلومات) (?:كاذبة|مغرضة)|إضعاف (?:شعور قومي|هيبة دولة)"
                    r"|وهن نفسية أمة",
                ],
            ),
            (
                "separatism and calls for secession are political aims; check whether violence is involved",
                [
                    r"separatis[mt]s?|secession(?:ist)?s?|(?:calls?|calling|incitement) (?:for|to) (?:the )?"
                    r"(?:secession|separatism|violation of (?:the )?territorial integrity)",
                    r"separatisme|separatistes?|secession(?:niste)?s?|atteinte a l integrite du territoire"
                    r"|atteinte a l unite nationale",
                    r"separatismo|separatistas?|secesion(?:ista)?s?|independentismo",
                    r"انفصالي|دعوة إلى انفصال|نزعة انفصالية|مساس وحدة (?:ترابية|وطنية)|إضرار وحدة وطنية",
                ],
            ),
            (
                "'propaganda against the state' punishes political speech",
                [
                    r"(?:anti state|anti government|anti regime|hostile|seditious|subversive) propaganda"
                    r"|propaganda against (?:the )?(?:state|government|regime|system|constitutional order)",
                    r"propagande (?:contre l etat|contre le regime|anti ?gouvernementale|hostile|subversive)",
                    r"propaganda (?:contra el estado|contra el gobierno|contra el regimen|antigubernamental"
                    r"|subversiva|enemiga)",
                    r"دعاية (?:ضد|مناهضة|معادية) (?:دولة|نظام|حكومة)|دعاية (?:مغرضة|معادية|مناهضة)",
                ],
            ),
        ],
    ),
    *_terms(
        _POLITICAL_CONTEXT,
        [
            (
                "treason is an offence against the state, political by nature",
                [
                    r"(?:high )?treason|treasonous|betrayal of (?:the )?(?:country|homeland|state|motherland)",
                    r"(?:haute )?trahison|intelligences? avec (?:une puissance etrangere|l ennemi|un etat etranger)",
                    r"(?:alta )?traicion(?: a la patria)?",
                    r"خيانة (?:عظمى|وطن|دولة)|تخابر مع (?:دولة|جهة|جهات) (?:أجنبية|معادية)",
                ],
            ),
            (
                "espionage is an offence against the state, political by nature",
                [
                    r"espionage|spying|spied for|spy for|foreign agents?",
                    r"espionnage|agents? (?:de l etranger|d une puissance etrangere)",
                    r"espionaje|agentes? extranjeros?",
                    r"تجسس|تخابر|جاسوس(?:ية)?|عميل (?:أجنبي|لجهة أجنبية)",
                ],
            ),
            (
                "'state security' and 'extremism' charges are often brought for political activity",
                [
                    r"(?:offen[cs]es?|crimes?|acts?) against (?:the )?(?:security of the state|state security"
                    r"|national security)|endangering (?:state|national) security|extremis[mt]s?",
                    r"atteinte (?:a la surete|aux interets fondamentaux) de l etat|atteinte a la securite (?:de l etat"
                    r"|nationale)|extremisme|extremistes?",
                    r"delitos? contra la seguridad (?:del estado|nacional)|extremismo|extremistas?",
                    r"مساس أمن (?:دولة|وطني|قومي)|(?:جرائم|جناية|جنحة) (?:ضد )?أمن دولة|تطرف|متطرف",
                ],
            ),
        ],
    ),
    *_terms(
        _RELIGIOUS,
        [
            (
                "blasphemy punishes the expression of a belief",
                [
                    r"blasphem(?:y|ies|ous|ing|ed|ers?)",
                    r"blasphem(?:e|es|atoire|atoires)",
                    r"blasfem(?:ia|ias|o|a|ar|ando)",
                    r"تجديف|سب (?:ذات إلهية|دين|أديان|رسول|نبي|الله)",
                ],
            ),
            (
                "insulting a religion or religious feelings punishes the expression of a belief",
                [
                    r"insult(?:s|ed|ing)?(?: (?:to|of|against))? (?:the )?(?:religions?|islam|prophet|god|quran|koran"
                    r"|bible|religious (?:feelings|beliefs|sentiments|values|symbols))|(?:offending|hurting|outraging"
                    r"|wounding) (?:the )?religious (?:feelings|sentiments|beliefs)|(?:defamation|desecration"
                    r"|contempt) of (?:the )?(?:religions?|prophet|quran|koran|sacred)",
                    r"(?:outrage|atteinte|offense|injure)s? (?:a la|aux|au|envers la|envers les) (?:religions?"
                    r"|valeurs religieuses|sentiments religieux|prophete|islam|dieu|croyances religieuses|culte)"
                    r"|ebranl(?:er|ement de) la foi d un musulman|mepris (?:de|envers) la religion",
                    r"(?:ofensas?|injurias?|escarnio|ultrajes?) (?:a|contra|de) (?:la |las |los )?(?:religion(?:es)?"
                    r"|sentimientos religiosos|creencias religiosas|confesiones religiosas|dios|profeta|dogmas)",
                    r"ازدراء (?:أديان|دين)|(?:إهانة|إساءة إلى|إساءة|تطاول على|نيل من) (?:دين|أديان|إسلام|رسول|نبي"
                    r"|ذات إلهية|مقدسات|قرآن|عقيدة)|زعزعة عقيدة",
                ],
            ),
            (
                "apostasy punishes changing or leaving a religion",
                [
                    r"apostas(?:y|ies)|apostates?|renounc(?:ing|ed) islam|leaving islam",
                    r"apostasie|apostats?",
                    r"apostasia|apostatas?",
                    # Bare ردة also means "reaction" in ردة فعل; the article keeps "his reply" (ردّه) out.
                    r"الردة(?! فعل)|(?:ارتداد|ردة) عن (?:إسلام|دين)",
                ],
            ),
            (
                "proselytism punishes the manifestation of a belief",
                [
                    r"proselyti[sz](?:m|ing|ation|ed)|(?:unauthori[sz]ed|illegal|unlawful) (?:missionary|religious) "
                    r"activit(?:y|ies)|(?:illegal|unlawful) (?:religious )?conversion",
                    r"proselytisme|activites? missionnaires? (?:illegales?|non autorisees?)",
                    r"proselitismo|actividad(?:es)? misioner(?:a|as) (?:ilegal(?:es)?|no autorizadas?)",
                    r"تبشير|تنصير|دعوة إلى (?:دين آخر|غير إسلام)",
                ],
            ),
            (
                "heresy, sorcery and witchcraft charges punish beliefs and religious practices",
                [
                    r"heres(?:y|ies)|heretic(?:al|s)?|sorcery|witchcraft",
                    r"heresie|heretiques?|sorcellerie",
                    r"herejia|herejes?|brujeria|hechiceria",
                    r"هرطقة|زندقة|شعوذة|ممارسة سحر",
                ],
            ),
        ],
    ),
    *_terms(
        _RACIAL,
        [
            (
                "the offence appears to be belonging to an ethnic, racial or tribal group",
                [
                    r"(?:belonging|belongs) to (?:an? |the )?(?:\w+ )?(?:ethnic|racial|tribal) (?:group|minority"
                    r"|community|clan)|member(?:ship)? (?:of|in) (?:an? |the )?(?:\w+ )?(?:ethnic|racial|tribal) "
                    r"(?:group|minority|community|clan)|(?:being|is) of (?:\w+ )?(?:ethnic|racial) origin",
                    r"appartenance (?:a|au) (?:une |un |l )?(?:ethnie|groupe ethnique|minorite ethnique|race|tribu"
                    r"|communaute ethnique)",
                    r"pertenencia a (?:una |un |la )?(?:etnia|grupo etnico|minoria etnica|raza|tribu|comunidad etnica)",
                    r"انتماء (?:إلى )?(?:عرق|جماعة عرقية|أقلية عرقية|قبيلة|إثنية)",
                ],
            ),
        ],
    ),
)

_SPECIAL_COURT_TERMS: tuple[_Term, ...] = _terms(
    _SPECIAL_COURT,
    [
        (
            "the decision was made by a military court",
            [
                r"military (?:courts?|tribunals?|prosecutors?|judges?)|courts? martial|martial courts?",
                r"tribunal (?:militaire|aux armees)|juridiction militaire|conseil de guerre",
                r"tribunal(?:es)? militar(?:es)?|juzgado togado militar|consejo de guerra|fiscalia militar",
                r"محكمة عسكرية|قضاء عسكري|نيابة عسكرية",
            ],
        ),
        (
            "the decision was made by a revolutionary, state-security or exceptional court, which in several "
            "countries tries political cases",
            [
                r"revolutionary (?:courts?|tribunals?)|state security (?:courts?|prosecution|prosecutors?)"
                r"|(?:exceptional|emergency) (?:courts?|tribunals?)|speciali[sz]ed criminal court",
                r"tribunal revolutionnaire|cour de surete de l etat|(?:tribunal|juridiction) d exception",
                r"tribunal revolucionario|tribunal de excepcion",
                r"محكمة (?:ثورية|ثورة|أمن دولة|استثنائية|طوارئ|جزائية متخصصة)|نيابة أمن دولة",
            ],
        ),
    ],
)

# ICCS divisions whose label alone hints at Article 3: a weaker signal than wording, since
# the division also holds ordinary offences.
_ICCS_ARTICLE_3: dict[str, str] = {
    "0803": "its offences often concern speech and the press",
    "0807": "offences about elections are political by nature",
    "0904": "treason, espionage and sedition fall here, political by nature",
}
_ICCS_HUMAN_RIGHTS: dict[str, str] = {
    "0802": "in some laws it covers consensual relations between adults (same-sex relations, adultery)",
}


# -- human rights: the wording ----------------------------------------------------------------

_PROTECTED_CONDUCT = _Category(
    CheckKind.HUMAN_RIGHTS,
    "human_rights.protected_conduct",
    "Article 2 of the Constitution binds the network to the Universal Declaration of Human Rights, and the "
    "RPD keep notices away from offences that raise controversial issues of behavioural or cultural norms: "
    "check what conduct is punished.",
)
_DEATH_PENALTY = _Category(
    CheckKind.HUMAN_RIGHTS,
    "human_rights.death_penalty",
    "Many members cannot arrest or extradite for a capital offence without assurances that the death penalty "
    "will not be imposed or carried out: check whether it applies and whether assurances were given.",
    arrest_only=True,
)
_REFUGEE = _Category(
    CheckKind.HUMAN_RIGHTS,
    "human_rights.refugee",
    "The network does not act against a recognised refugee at the request of the country the person fled: "
    "check the person's status with the country of asylum (and UNHCR where needed).",
    arrest_only=True,
)

_HUMAN_RIGHTS_TERMS: tuple[_Term, ...] = (
    *_terms(
        _PROTECTED_CONDUCT,
        [
            (
                "consensual same-sex relations between adults are protected as private life; check the conduct "
                "was not a sexual assault",
                [
                    r"homosexual(?:ity| acts?| relations?| conduct| intercourse)?|same sex (?:relations?"
                    r"|relationships?|acts?|conduct|intercourse|marriage)|sodomy|buggery|unnatural (?:offen[cs]es?"
                    r"|acts?|intercourse)|carnal (?:knowledge|intercourse) against the order of nature"
                    r"|gross indecency|(?:promoting|propaganda (?:of|for)) (?:homosexuality|lgbt\w*|non traditional "
                    r"sexual relations)|lgbt\w* propaganda|cross dressing|imitating the opposite sex",
                    r"homosexualite|actes? homosexuels?|relations? (?:homosexuelles?|entre personnes de meme sexe)"
                    r"|actes? contre nature|sodomie|travestissement|propagande (?:homosexuelle|lgbt\w*)",
                    r"homosexualidad|actos? homosexuales?|relaciones (?:homosexuales|entre personas del mismo sexo)"
                    r"|actos? contra (?:natura|la naturaleza)|sodomia|propaganda (?:homosexual|lgbt\w*)",
                    r"لواط|مثلية(?: جنسية)?|مثليين|مثليون|شذوذ جنسي|تشبه (?:نساء|رجال|جنس آخر)",
                ],
            ),
            (
                "adultery and consensual relations outside marriage belong to private life",
                [
                    r"adulter(?:y|ous|er|ers|ess)|fornication|zina|extra ?marital (?:sex|relations?|intercourse"
                    r"|affairs?)|sex(?:ual relations?)? outside (?:of )?marriage",
                    r"adultere|fornication|relations? (?:sexuelles? )?(?:hors mariage|extra ?conjugales?)",
                    r"adulterio|fornicacion|relaciones (?:sexuales )?(?:fuera del matrimonio|extramaritales"
                    r"|extramatrimoniales)",
                    r"زنا|زنى|خيانة زوجية|علاقة (?:جنسية )?(?:غير شرعية|خارج (?:إطار )?زواج|رضائية)|علاقات رضائية",
                ],
            ),
            (
                "vague 'morality' offences are used against lawful private conduct, dress and expression",
                [
                    r"immoral (?:behaviou?r|conduct|acts?)|(?:offending|outraging|violating|violation of|offen[cs]es? "
                    r"against) (?:public )?(?:morals|morality|modesty|decency)|debauchery|indecent (?:dress|clothing"
                    r"|attire)|(?:inciting|incitement to) (?:immorality|debauchery)",
                    r"(?:comportement|conduite|acte)s? immor(?:al|aux|ale|ales)|(?:atteinte|outrage)s? (?:aux bonnes "
                    r"moeurs|a la pudeur|a la morale(?: publique)?)|debauche|incitation a la debauche",
                    r"(?:conducta|comportamiento|acto)s? inmoral(?:es)?|(?:ofensas?|atentados?|ultrajes?) (?:a|contra) "
                    r"(?:la moral(?: publica)?|las buenas costumbres|el pudor)|escandalo publico",
                    r"فجور|فسق|خدش حياء|إخلال (?:آداب|حياء)|مخل (?:آداب|حياء)|فعل فاضح|مناف(?:ي)? (?:آداب|أخلاق)",
                ],
            ),
            (
                "criminalising criticism of a monarch or head of state restricts freedom of expression "
                "(UN Human Rights Committee, General Comment 34)",
                [
                    r"lese majeste|insult(?:s|ed|ing)?(?: (?:to|of|against))? (?:the )?(?:king|queen|monarch"
                    r"|royal family|crown|emir|sultan)|defam(?:ation|ing) (?:of )?(?:the )?(?:king|queen|monarch"
                    r"|royal family)",
                    r"lese majeste|(?:offense|outrage)s? (?:au|envers le) (?:roi|souverain)",
                    r"(?:injurias?|calumnias?|ofensas?) (?:al|a la|contra el|contra la) (?:rey|reina|corona"
                    r"|familia real)",
                    r"(?:مساس|عيب في) ذات (?:ملكية|أميرية|سلطانية)|(?:إهانة|إساءة إلى|إساءة|سب) (?:ملك|أمير|سلطان"
                    r"|أسرة مالكة|عائلة مالكة)",
                ],
            ),
            (
                "abortion raises controversial issues of behavioural and cultural norms on which members' laws "
                "differ widely",
                [
                    r"abortions?|(?:illegal |unlawful )?termination of (?:a |her )?pregnancy",
                    r"avortement|interruption (?:illegale |volontaire )?de (?:la )?grossesse",
                    r"aborto",
                    r"إجهاض",
                ],
            ),
        ],
    ),
    *_terms(
        _DEATH_PENALTY,
        [
            (
                "the texts mention the death penalty",
                [
                    r"death (?:penalty|sentence)|sentenced to death|capital (?:punishment|offen[cs]es?|crimes?"
                    r"|charges?)|punishable by (?:death|execution)|liable to (?:the )?death(?: penalty)?"
                    r"|death by (?:stoning|hanging|firing squad)",
                    r"peine (?:de mort|capitale)|condamne(?:e|s|es)? a mort|passible de (?:la )?(?:peine de )?mort"
                    r"|punie?s? de (?:la )?(?:peine de )?mort|crime capital",
                    r"pena (?:de muerte|capital)|condenad[oa]s? a muerte|castigad[oa]s? con (?:la )?(?:pena de )?muerte"
                    r"|punible con (?:la )?(?:pena de )?muerte|delito capital",
                    r"إعدام|رجم",
                ],
            ),
            (
                "qisas (retaliation) may mean a death sentence",
                [r"qisas", r"قصاص"],
            ),
        ],
    ),
    *_terms(
        _REFUGEE,
        [
            (
                "the texts mention refugee status or asylum",
                [
                    r"refugees?|asylum (?:seekers?|claims?|applications?|requests?|status|procedures?|case)"
                    r"|(?:political|granted|grant of|claimed|claiming|sought|seeking|applied for|applying for"
                    r"|requested|has|holds|obtained|received) asylum|international protection|subsidiary protection"
                    r"|non refoulement",
                    r"refugie(?:e|s|es)?|(?:demande(?:ur|use)?s?|droit) d asile|asile politique"
                    r"|protection (?:internationale|subsidiaire)",
                    r"refugiad[oa]s?|(?:solicitud|solicitante|peticion|derecho|concesion)(?:es)? de asilo"
                    r"|asilo politico|asilad[oa]s?|proteccion (?:internacional|subsidiaria)",
                    r"لاجئ|لجوء سياسي|(?:طلب|طالب|حق|ملتمس|منح|صفة) لجوء|حماية دولية",
                ],
            ),
        ],
    ),
)


# -- the texts screened -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    field: str  # where the text is: "offences[0].description.translations.fr"
    base: str  # the field a finding is about once: "offences[0].description"
    text: str
    offence: int | None  # the offence the text describes, if any


def _local(path: str, text: LocalText | None, offence: int | None = None) -> Iterator[_Source]:
    if text is None:
        return
    yield _Source(path, path, text.text, offence)
    for language in sorted(text.translations):
        yield _Source(f"{path}.translations.{language.value}", path, text.translations[language], offence)


def _offence_sources(request: NoticeRequest) -> Iterator[_Source]:
    for index, offence in enumerate(request.offences):
        yield from _local(f"offences[{index}].description", offence.description, index)
        if offence.law is not None:
            yield _Source(f"offences[{index}].law", f"offences[{index}].law", offence.law, index)


def _grounds_sources(request: NoticeRequest) -> list[_Source]:
    """The offences and the summary: what the request rests on."""
    return [*_offence_sources(request), *_local("summary", request.summary)]


def _remarks_sources(request: NoticeRequest) -> list[_Source]:
    if request.subject is None or request.subject.remarks is None:
        return []
    return [_Source("subject.remarks", "subject.remarks", request.subject.remarks, None)]


@dataclass(frozen=True)
class _Hit:
    term: _Term
    source: _Source
    evidence: str


def _screen(sources: Iterable[_Source], terms: Sequence[_Term]) -> list[_Hit]:
    """The first hit of each category in each field (its original before its translations)."""
    hits: list[_Hit] = []
    seen: set[tuple[str, str]] = set()
    for source in sources:
        folded = _Folded.of(source.text)
        for term in terms:
            key = (term.category.code, source.base)
            if key in seen:
                continue
            match = term.pattern.search(folded.text)
            if match is not None:
                seen.add(key)
                hits.append(_Hit(term, source, folded.quote(match.start(), match.end())))
    return hits


def _hit_finding(hit: _Hit) -> Finding:
    return Finding(
        check=hit.term.category.check,
        code=hit.term.category.code,
        severity=Severity.CONCERN,
        message=f"{hit.source.field} reads '{hit.evidence}': {hit.term.reason}. {hit.term.category.consequence}",
        field=hit.source.field,
        evidence=hit.evidence,
    )


# -- helpers ----------------------------------------------------------------------------------


def _seeks_arrest(spec: NoticeTypeSpec) -> bool:
    """A type resting on a warrant or judgement seeks an arrest (red): the checks about
    minors, refugees and the death penalty are about what an arrest would lead to."""
    return Requirement.LEGAL_BASIS in spec.requires


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _months(months: int) -> str:
    return "life imprisonment" if months >= LIFE_MONTHS else f"{months} months"


def _listing(paths: Iterable[str]) -> str:
    return ", ".join(paths)


def _has_two_name_parts(person: Person) -> bool:
    for name in person.names:
        if name.kind is NameKind.NICKNAME:
            continue
        if name.given and name.family:
            return True
        if len(re.split(r"[\s,]+", name.full.strip())) >= 2:
            return True
    return False


def _describes(physical: PhysicalDescription | None) -> bool:
    if physical is None:
        return False
    return bool(
        physical.height_cm
        or physical.weight_kg
        or (physical.eye_colour not in (None, EyeColour.UNKNOWN))
        or (physical.hair_colour not in (None, HairColour.UNKNOWN))
        or physical.marks
        or physical.description
    )


def _has_attachment(request: NoticeRequest, kind: AttachmentKind) -> bool:
    return any(attachment.kind is kind for attachment in request.attachments)


# -- required ---------------------------------------------------------------------------------


def _blocking(code: str, message: str, field: str | None, evidence: str | None = None) -> Finding:
    return Finding(CheckKind.REQUIRED, code, Severity.BLOCKING, message, field, evidence)


def _requirements(spec: NoticeTypeSpec) -> list[Requirement]:
    """The spec's requirements, with those its subject kind implies: a body type describes the
    body; a type with no person (purple) stands on its modus operandi."""
    implied = {SubjectKind.BODY: Requirement.BODY, SubjectKind.NONE: Requirement.MODUS_OPERANDI}.get(spec.subject)
    required = list(dict.fromkeys(spec.requires))
    if implied is not None and implied not in required:
        required.append(implied)
    return required


def _required(request: NoticeRequest, spec: NoticeTypeSpec, today: dt.date) -> list[Finding]:
    findings: list[Finding] = []
    subject_missing = spec.subject is SubjectKind.PERSON and request.subject is None
    if subject_missing:
        findings.append(
            _blocking("required.subject", f"A {spec.title} is about a person: subject is missing.", "subject")
        )
    for requirement in _requirements(spec):
        match requirement:
            case Requirement.LEGAL_BASIS:
                findings.extend(_legal_basis(request, spec, today))
            case Requirement.OFFENCES:
                if not request.offences:
                    findings.append(
                        _blocking(
                            "required.offences",
                            f"A {spec.title} needs at least one offence, described: offences is empty.",
                            "offences",
                        )
                    )
            case Requirement.PENALTY_THRESHOLD:
                findings.extend(_penalty_threshold(request))
            case Requirement.IDENTIFIERS:
                if not subject_missing:
                    findings.extend(_identifiers(request, spec))
            case Requirement.MISSING_EVENT:
                if request.missing is None:
                    findings.append(
                        _blocking(
                            "required.missing_event",
                            f"A {spec.title} needs when and where the person went missing: missing is not given.",
                            "missing",
                        )
                    )
            case Requirement.BODY:
                if request.body is None:
                    findings.append(
                        _blocking(
                            "required.body",
                            f"A {spec.title} needs where and when the body was found and its description: "
                            "body is not given.",
                            "body",
                        )
                    )
            case Requirement.THREAT:
                if request.threat is None:
                    findings.append(
                        _blocking(
                            "required.threat", f"A {spec.title} needs the threat described: threat is empty.", "threat"
                        )
                    )
            case Requirement.MODUS_OPERANDI:
                if request.modus_operandi is None:
                    findings.append(
                        _blocking(
                            "required.modus_operandi",
                            f"A {spec.title} needs the modus operandi, object, device or concealment method "
                            "described: modus_operandi is empty.",
                            "modus_operandi",
                        )
                    )
            case Requirement.SANCTIONS_REFERENCE:
                if request.sanctions_reference is None:
                    findings.append(
                        _blocking(
                            "required.sanctions_reference",
                            f"A {spec.title} needs the UN Security Council sanctions list reference "
                            "(e.g. QDi.431): sanctions_reference is missing.",
                            "sanctions_reference",
                        )
                    )
            case Requirement.REASON:
                if request.summary is None:
                    findings.append(
                        _blocking(
                            "required.reason",
                            f"A {spec.title} needs a summary saying why the information is sought: summary is empty.",
                            "summary",
                        )
                    )
    return findings


def _legal_basis(request: NoticeRequest, spec: NoticeTypeSpec, today: dt.date) -> list[Finding]:
    # The model already requires each legal basis's reference, issuing authority and date, and
    # refuses a date in the future; what is left is whether there is one, and whether it is
    # still in force.
    if not request.legal_basis:
        return [
            _blocking(
                "required.legal_basis",
                f"A {spec.title} rests on an arrest warrant or a judgement, with its issuing authority and date: "
                "legal_basis is empty.",
                "legal_basis",
            )
        ]
    findings = []
    for index, basis in enumerate(request.legal_basis):
        if basis.valid_until is not None and basis.valid_until < today:
            findings.append(
                _blocking(
                    "required.legal_basis_expired",
                    f"legal_basis[{index}] ({basis.kind.value.replace('_', ' ')} {basis.reference}) expired on "
                    f"{basis.valid_until.isoformat()}: a notice cannot rest on it; ask for a renewed one.",
                    f"legal_basis[{index}].valid_until",
                    basis.valid_until.isoformat(),
                )
            )
    return findings


def _penalty_threshold(request: NoticeRequest) -> list[Finding]:
    """At least two years for a person wanted for prosecution, or six months left to serve for
    one wanted to serve a sentence: either path satisfies the threshold."""
    warrants = [basis for basis in request.legal_basis if basis.kind is LegalBasisKind.ARREST_WARRANT]
    judgements = [basis for basis in request.legal_basis if basis.kind is LegalBasisKind.JUDGEMENT]
    sentence_path = bool(judgements) or request.sentence is not None
    prosecution_path = bool(warrants) or not sentence_path
    failures: list[Finding] = []

    if prosecution_path:
        known = [(i, o.max_penalty_months) for i, o in enumerate(request.offences) if o.max_penalty_months is not None]
        unknown = [f"offences[{i}]" for i, o in enumerate(request.offences) if o.max_penalty_months is None]
        if any(months >= PROSECUTION_THRESHOLD_MONTHS for _, months in known):
            return []
        if not request.offences:
            failures.append(
                _blocking(
                    "required.penalty_threshold",
                    "No offence is given, so the 2-year threshold for a person wanted for prosecution cannot be "
                    "verified.",
                    "offences",
                )
            )
        elif not known:
            field = "offences[0].max_penalty_months" if len(request.offences) == 1 else "offences"
            failures.append(
                _blocking(
                    "required.penalty_threshold",
                    "No offence gives its maximum penalty (max_penalty_months), so the 2-year threshold for a person "
                    "wanted for prosecution cannot be verified.",
                    field,
                )
            )
        else:
            index, highest = max(known, key=lambda item: (item[1], -item[0]))
            message = (
                f"The highest maximum penalty given is {_months(highest)} (offences[{index}]), below the 2-year "
                "threshold for a person wanted for prosecution."
            )
            if unknown:
                message += f" {_listing(unknown)} give no maximum penalty."
            failures.append(
                _blocking(
                    "required.penalty_threshold", message, f"offences[{index}].max_penalty_months", _months(highest)
                )
            )

    if sentence_path:
        if request.sentence is None:
            failures.append(
                _blocking(
                    "required.penalty_threshold",
                    "A judgement is given but no sentence, so the 6-month threshold for a person wanted to serve a "
                    "sentence cannot be verified.",
                    "sentence",
                )
            )
        elif request.sentence.remaining_months >= SENTENCE_THRESHOLD_MONTHS:
            return []
        else:
            remaining = request.sentence.remaining_months
            failures.append(
                _blocking(
                    "required.penalty_threshold",
                    f"{remaining} months of the sentence remain to be served, below the 6-month threshold for a "
                    "person wanted to serve a sentence.",
                    "sentence.remaining_months",
                    f"{remaining} months",
                )
            )
    return failures


def _identifiers(request: NoticeRequest, spec: NoticeTypeSpec) -> list[Finding]:
    person = request.subject
    if person is None:
        return [
            _blocking(
                "required.identifiers",
                f"A {spec.title} needs enough to identify the person: no subject is given.",
                "subject",
            )
        ]
    findings: list[Finding] = []
    if not _has_two_name_parts(person):
        findings.append(
            _blocking(
                "required.identifiers.name",
                "The person needs a family name and a given name (given and family, or a full name of at least "
                f"two parts): '{person.primary_name.full}' has one.",
                "subject.names",
                person.primary_name.full,
            )
        )
    particulars = (
        person.birth_dates
        or person.identifiers
        or person.biometrics
        or _has_attachment(request, AttachmentKind.PHOTO)
        or _has_attachment(request, AttachmentKind.FINGERPRINTS)
        or _describes(person.physical)
    )
    if not particulars:
        findings.append(
            _blocking(
                "required.identifiers.particulars",
                "A name alone does not identify a person: give at least one of a birth date (the year at least), "
                "an identity document or identifier, a photo, fingerprints or other biometrics, or a physical "
                "description.",
                "subject",
            )
        )
    return findings


# -- Article 3 --------------------------------------------------------------------------------


def _article_3(request: NoticeRequest, spec: NoticeTypeSpec) -> list[Finding]:
    hits = _screen(_grounds_sources(request), _ARTICLE_3_TERMS)
    findings = [_hit_finding(hit) for hit in hits]
    flagged = {hit.source.offence for hit in hits if hit.source.offence is not None}

    for index, offence in enumerate(request.offences):
        # The classification is weaker evidence than the words: reported only where the words
        # said nothing.
        if offence.iccs is None or index in flagged:
            continue
        division = offence.iccs[:4]
        if division in _ICCS_ARTICLE_3:
            flagged.add(index)
            findings.append(
                Finding(
                    CheckKind.ARTICLE_3,
                    "article_3.iccs_division",
                    Severity.CONCERN,
                    f"offences[{index}].iccs is {offence.iccs} ({ICCS_DIVISIONS[division]}): "
                    f"{_ICCS_ARTICLE_3[division]}. The classification alone only hints that Article 3 may apply: "
                    "read the conduct described.",
                    f"offences[{index}].iccs",
                    offence.iccs,
                )
            )

    courts = [
        _Source(f"legal_basis[{i}].issuing_authority", f"legal_basis[{i}]", basis.issuing_authority, None)
        for i, basis in enumerate(request.legal_basis)
    ]
    findings.extend(_hit_finding(hit) for hit in _screen(courts, _SPECIAL_COURT_TERMS))

    return [*_article_3_overall(request, spec, flagged), *findings]


def _article_3_overall(request: NoticeRequest, spec: NoticeTypeSpec, flagged: set[int]) -> list[Finding]:
    if not flagged or not request.offences:
        return []
    marked = [f"offences[{i}]" for i in sorted(flagged)]
    if len(flagged) == len(request.offences):
        return [
            Finding(
                CheckKind.ARTICLE_3,
                "article_3.all_offences",
                Severity.CONCERN,
                f"Every offence of this {spec.title} request ({_listing(marked)}) appears to be of a military, "
                "political, religious or racial character and none is shown as an ordinary-law crime: as it stands, "
                "Article 3 is likely to stand in the way; the source would have to show an ordinary-law offence.",
                "offences",
                _listing(marked),
            )
        ]
    ordinary = [f"offences[{i}]" for i in range(len(request.offences)) if i not in flagged]
    return [
        Finding(
            CheckKind.ARTICLE_3,
            "article_3.mixed_offences",
            Severity.CONCERN,
            f"{_listing(marked)} may fall under Article 3 while {_listing(ordinary)} appear to be ordinary-law "
            "crimes: weigh which element predominates (the nature of the offence, the status of the person, the "
            "context, the victims). A political motive alone does not exclude an ordinary crime: a terrorist act "
            "or a violent crime with a political aim is not barred by Article 3 alone.",
            "offences",
            _listing(marked),
        )
    ]


# -- human rights -----------------------------------------------------------------------------


def _human_rights(request: NoticeRequest, spec: NoticeTypeSpec, today: dt.date) -> list[Finding]:
    arrest = _seeks_arrest(spec)
    terms = [term for term in _HUMAN_RIGHTS_TERMS if arrest or not term.category.arrest_only]
    hits = _screen([*_grounds_sources(request), *_remarks_sources(request)], terms)
    findings = [_hit_finding(hit) for hit in hits]
    screened = {hit.source.offence for hit in hits if hit.source.offence is not None}
    for index, offence in enumerate(request.offences):
        if offence.iccs is None or index in screened:
            continue
        division = offence.iccs[:4]
        if division in _ICCS_HUMAN_RIGHTS:
            findings.append(
                Finding(
                    CheckKind.HUMAN_RIGHTS,
                    "human_rights.iccs_division",
                    Severity.CONCERN,
                    f"offences[{index}].iccs is {offence.iccs} ({ICCS_DIVISIONS[division]}): "
                    f"{_ICCS_HUMAN_RIGHTS[division]}. Check the conduct described is not the exercise of a basic "
                    "right.",
                    f"offences[{index}].iccs",
                    offence.iccs,
                )
            )

    person = request.subject
    if arrest and person is not None:
        findings.extend(_minor(request, person, today))
        for index, code in enumerate(person.nationalities):
            if code in _REFUGEE_NATIONALITIES:
                findings.append(
                    Finding(
                        CheckKind.HUMAN_RIGHTS,
                        "human_rights.refugee",
                        Severity.CONCERN,
                        f"subject.nationalities[{index}] is {code} ({_REFUGEE_NATIONALITIES[code]}). "
                        f"{_REFUGEE.consequence}",
                        f"subject.nationalities[{index}]",
                        code,
                    )
                )
    return findings


def _minor(request: NoticeRequest, person: Person, today: dt.date) -> list[Finding]:
    """A person who may be a child now (the latest date a partial birth date allows), or who
    certainly was one when an offence was committed."""
    if not person.birth_dates:
        return []
    youngest = max(range(len(person.birth_dates)), key=lambda i: partial_date_bounds(person.birth_dates[i])[1])
    born = person.birth_dates[youngest]
    age = _age(partial_date_bounds(born)[1], today)
    field = f"subject.birth_dates[{youngest}]"
    if age < YOUNG_CHILD_AGE:
        return [
            Finding(
                CheckKind.HUMAN_RIGHTS,
                "human_rights.child",
                Severity.CONCERN,
                f"The person, born {born}, may be {max(age, 0)} years old: a child below the age of criminal "
                "responsibility in most members. A notice seeking the arrest of a young child needs strong reasons "
                "and its best interests weighed (Convention on the Rights of the Child, art. 3 and 40).",
                field,
                born,
            )
        ]
    if age < ADULT_AGE:
        return [
            Finding(
                CheckKind.HUMAN_RIGHTS,
                "human_rights.minor",
                Severity.CONCERN,
                f"The person, born {born}, may be {age} years old, a minor: check that the request meets juvenile "
                "justice standards and weigh the child's best interests (Convention on the Rights of the Child, "
                "art. 3 and 40).",
                field,
                born,
            )
        ]
    findings: list[Finding] = []
    for index, offence in enumerate(request.offences):
        if offence.committed_on is None:
            continue
        committed_by = partial_date_bounds(offence.committed_on)[1]
        # Flag only when every reading of both partial dates makes the person a child.
        for born_text in person.birth_dates:
            if _age(partial_date_bounds(born_text)[0], committed_by) < ADULT_AGE:
                findings.append(
                    Finding(
                        CheckKind.HUMAN_RIGHTS,
                        "human_rights.minor_at_offence",
                        Severity.CONCERN,
                        f"offences[{index}] was committed on {offence.committed_on}, when the person (born "
                        f"{born_text}) was under 18: check the request and the penalty respect juvenile justice "
                        "standards (Convention on the Rights of the Child, art. 37 and 40).",
                        f"offences[{index}].committed_on",
                        offence.committed_on,
                    )
                )
                break
    return findings


# -- data quality -----------------------------------------------------------------------------


def _note(code: str, message: str, field: str | None, evidence: str | None = None) -> Finding:
    return Finding(CheckKind.DATA_QUALITY, code, Severity.NOTE, message, field, evidence)


def _data_quality(
    request: NoticeRequest, spec: NoticeTypeSpec, today: dt.date, required: Sequence[Finding]
) -> list[Finding]:
    findings: list[Finding] = []
    person = request.subject
    if person is not None:
        findings.extend(_person_quality(request, spec, person, today))

    latest_basis = max((basis.issued_on for basis in request.legal_basis), default=None)
    if latest_basis is not None:
        for index, offence in enumerate(request.offences):
            # Several warrants may each cover their own offence: an offence is out of place only
            # when it postdates them all.
            if offence.committed_on is not None and partial_date_bounds(offence.committed_on)[0] > latest_basis:
                findings.append(
                    _note(
                        "data_quality.offence_after_legal_basis",
                        f"offences[{index}] was committed on {offence.committed_on}, after every warrant or judgement "
                        f"given (the latest issued on {latest_basis.isoformat()}): check the dates, or add the legal "
                        "basis that covers it.",
                        f"offences[{index}].committed_on",
                        offence.committed_on,
                    )
                )
    horizon = _years_before(today, OLD_LEGAL_BASIS_YEARS)
    for index, basis in enumerate(request.legal_basis):
        if basis.issued_on < horizon:
            findings.append(
                _note(
                    "data_quality.old_legal_basis",
                    f"legal_basis[{index}] was issued on {basis.issued_on.isoformat()}, more than "
                    f"{OLD_LEGAL_BASIS_YEARS} years ago: ask the source to confirm it is still valid and the "
                    "prosecution or the penalty is not time-barred.",
                    f"legal_basis[{index}].issued_on",
                    basis.issued_on.isoformat(),
                )
            )
    sentence_blocked = any(finding.field == "sentence" for finding in required)
    if request.sentence is None and not sentence_blocked:
        for index, basis in enumerate(request.legal_basis):
            if basis.kind is LegalBasisKind.JUDGEMENT:
                findings.append(
                    _note(
                        "data_quality.judgement_without_sentence",
                        f"legal_basis[{index}] is a judgement, but no sentence is given: give the sentence imposed "
                        "and what remains to be served.",
                        "sentence",
                    )
                )
                break

    readable = (Language.ENGLISH, Language.FRENCH)
    for path, text in _local_texts(request):
        if not any(text.in_language(language) for language in readable):
            findings.append(
                _note(
                    "data_quality.no_translation",
                    f"{path} is in '{text.language.value}' with no English or French translation: most reviewers "
                    "and members read one of them; add a translation.",
                    path,
                    text.language.value,
                )
            )

    if request.sanctions_reference is not None and not SANCTIONS_REFERENCE.match(request.sanctions_reference):
        findings.append(
            _note(
                "data_quality.sanctions_reference",
                f"sanctions_reference '{request.sanctions_reference}' is not of the form of a UN sanctions list "
                "reference (committee letters, i or e, a dot, three digits: QDi.431, TAi.155, KPi.033).",
                "sanctions_reference",
                request.sanctions_reference,
            )
        )
    return findings


def _local_texts(request: NoticeRequest) -> Iterator[tuple[str, LocalText]]:
    if request.summary is not None:
        yield "summary", request.summary
    for index, offence in enumerate(request.offences):
        yield f"offences[{index}].description", offence.description
    if request.missing is not None and request.missing.circumstances is not None:
        yield "missing.circumstances", request.missing.circumstances
    if request.body is not None and request.body.circumstances is not None:
        yield "body.circumstances", request.body.circumstances
    if request.threat is not None:
        yield "threat", request.threat
    if request.modus_operandi is not None:
        yield "modus_operandi", request.modus_operandi


def _person_quality(request: NoticeRequest, spec: NoticeTypeSpec, person: Person, today: dt.date) -> list[Finding]:
    findings: list[Finding] = []
    if not any(name.script == "Latn" for name in person.names):
        findings.append(
            _note(
                "data_quality.no_latin_name",
                f"No name of the person is in Latin script ('{person.primary_name.full}'): most reviewers and "
                "members read Latin script; add a transliteration (a name of kind 'transliteration').",
                "subject.names",
                person.primary_name.full,
            )
        )
    for index, born in enumerate(person.birth_dates):
        earliest, latest = partial_date_bounds(born)
        if _age(latest, today) > OLDEST_PLAUSIBLE_AGE:
            findings.append(
                _note(
                    "data_quality.implausible_birth_date",
                    f"subject.birth_dates[{index}] ({born}) makes the person older than {OLDEST_PLAUSIBLE_AGE}: "
                    "check the date.",
                    f"subject.birth_dates[{index}]",
                    born,
                )
            )
        elif _seeks_arrest(spec) and _age(earliest, today) < YOUNGEST_PLAUSIBLE_WANTED_AGE:
            findings.append(
                _note(
                    "data_quality.implausible_birth_date",
                    f"subject.birth_dates[{index}] ({born}) makes the person younger than "
                    f"{YOUNGEST_PLAUSIBLE_WANTED_AGE}, implausible for a {spec.title}: check the date.",
                    f"subject.birth_dates[{index}]",
                    born,
                )
            )
    if not person.nationalities:
        findings.append(
            _note(
                "data_quality.no_nationality",
                "No nationality is given: it tells members which documents the person may travel on.",
                "subject.nationalities",
            )
        )
    if not _has_attachment(request, AttachmentKind.PHOTO):
        findings.append(
            _note(
                "data_quality.no_photo",
                "No photo is attached: a photo is what officers at a border or in the street compare against.",
                "attachments",
            )
        )
    return findings


# -- duplicates -------------------------------------------------------------------------------


def _duplicates(duplicates: Sequence[PossibleDuplicate]) -> list[Finding]:
    findings: list[Finding] = []
    for duplicate in sorted(duplicates, key=lambda d: (-d.score, d.notice_id)):
        name = duplicate.reference or duplicate.notice_id
        described = (
            f"{name} ({duplicate.notice_type} {duplicate.channel}, {duplicate.status}, owned by "
            f"{duplicate.owner_country}) matches the subject with score {duplicate.score:.2f}"
        )
        if duplicate.score >= DUPLICATE_CONCERN_SCORE and duplicate.status in _ACTIVE_STATUSES:
            findings.append(
                Finding(
                    CheckKind.DUPLICATE,
                    "duplicate.likely",
                    Severity.CONCERN,
                    f"Likely duplicate: {described}. Check that this request does not duplicate it; if it is the "
                    "same person, update or extend the existing one instead.",
                    None,
                    duplicate.notice_id,
                )
            )
        else:
            findings.append(
                Finding(
                    CheckKind.DUPLICATE,
                    "duplicate.possible",
                    Severity.NOTE,
                    f"Possible duplicate: {described}. Check whether it is the same person.",
                    None,
                    duplicate.notice_id,
                )
            )
    return findings


# -- the entry point --------------------------------------------------------------------------


def precheck(
    request: NoticeRequest,
    spec: NoticeTypeSpec,
    *,
    today: dt.date,
    duplicates: Sequence[PossibleDuplicate] = (),
) -> list[Finding]:
    """The findings on ``request`` read as a ``spec`` request on ``today``, in a fixed order:
    required, article_3, human_rights, data_quality, duplicate; within each, in the order of
    the request's fields. Raises ValueError if ``spec`` is not the request's type."""
    if spec.code != request.notice_type:
        raise ValueError(f"the request is a '{request.notice_type}' request, not '{spec.code}'")
    required = _required(request, spec, today)
    findings = [
        *required,
        *_article_3(request, spec),
        *_human_rights(request, spec, today),
        *_data_quality(request, spec, today, required),
        *_duplicates(duplicates),
    ]
    return sorted(findings, key=lambda finding: _KIND_ORDER[finding.check])  # stable: keeps the order within each
