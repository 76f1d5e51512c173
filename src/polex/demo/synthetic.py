"""Synthetic police data for ``polex demo``: persons, travel documents, vehicles and cases.

Every country writes its records the way its own police would: names in the country's
script (with the Latin transliteration its passports print), document numbers and
registration plates in its real formats, crime labels and case summaries in its language.
The hub (``XPO``) holds international fugitives of many nationalities, INTERPOL travel
documents and vehicles reported by the national bureaus.

Everything is built through the domain models, so every validator runs. Output is
deterministic for a seed, apart from the record ids (UUIDv7 carry the time).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from faker import Faker
from rigour.text.translit import ascii_text

from polex.domain.base import RecordKind, new_id
from polex.domain.case import Case, CaseStatus, LinkRole
from polex.domain.countries import HUB_COUNTRY
from polex.domain.document import DocumentStatus, DocumentType, TravelDocument
from polex.domain.iccs import ICCS_DIVISIONS
from polex.domain.person import (
    EyeColour,
    HairColour,
    IdentifierKind,
    MarkKind,
    NameKind,
    Person,
    Sex,
)
from polex.domain.vehicle import Vehicle, VehicleCategory, VehicleStatus
from polex.domain.vin import vin_check_digit

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    """A city in its own language; ``codes`` are the local codes a profile needs for it
    (French department, Ukrainian or Greek plate prefixes, Japanese plate office, Chinese or
    Egyptian administrative code)."""

    name: str
    codes: tuple[str, ...] = ()
    weight: int = 1


@dataclass(frozen=True)
class VehicleModel:
    name: str
    since: int
    until: int | None = None
    category: VehicleCategory = VehicleCategory.CAR
    plate_class: str = "3"  # Japanese classification number: 3 ordinary, 5 small, 58 kei, 4 van, 1 truck
    wmis: tuple[str, ...] = ()  # where the model is built apart from the make's usual plants


@dataclass(frozen=True)
class VehicleMake:
    make: str
    wmis: tuple[str, ...]  # ISO 3780 world manufacturer identifiers
    models: tuple[VehicleModel, ...]
    weight: int = 1


@dataclass(frozen=True)
class Texts:
    """The words a country's records are written in. Tuples of pairs keep profiles hashable."""

    crimes: tuple[tuple[str, str], ...]  # ICCS division, label in lower case
    title: str  # {crime} {city}
    summaries: tuple[str, ...]  # {crime} {city} {date}
    persons: tuple[str, str, str]  # no, one, {n} persons linked
    follow_ups: tuple[str, ...]
    also: str  # {crimes}: the case's further crime types
    also_joiner: str
    loss: str  # {amount}
    currency_step: int  # losses are multiples of this
    thousands: str  # the thousands separator
    date_style: str  # dmy/ dmy. ja en
    colours: tuple[str, ...]  # aligned with _COLOURS
    body_parts: tuple[str, ...]  # aligned with _BODY_PARTS
    tattoos: tuple[str, ...]
    remarks: tuple[str, ...]
    elision: bool = False  # French: "de escroquerie" is written "d'escroquerie"


@dataclass(frozen=True)
class CountryProfile:
    """How one country's people are named and documented, and how it writes its records.

    Number patterns: ``#`` digit, ``%`` digit 1-9, ``?`` letter A-Z, ``*`` letter or digit,
    ``@`` Latin letter with a Greek twin, ``$``/``&`` first letter of a German passport /
    identity card, ``!`` German document character; anything else is literal.
    """

    country: str  # ISO 3166-1 alpha-3 (or ICAO code)
    locale: str  # Faker locale
    language: str  # ISO 639-1 of names and free text
    spoken: tuple[str, ...]  # ISO 639-3, the first is the main language
    name_style: str  # western, spanish (two surnames), slavic (patronymic), japanese, family_first (CJK)
    romanization: str | None  # None: names are Latin already; ukr, rus (own tables), japanese, korean, rigour
    cities: tuple[City, ...]
    passport: str
    identity_card: str | None = None
    identity_card_since: tuple[str, str] | None = None  # (ISO date the current pattern began, older)
    national_id: str | None = None  # which national number the persons carry
    passport_years: tuple[int, ...] = (10,)
    identity_card_years: int = 10
    physique: str = "european"
    height: tuple[int, int] = (176, 163)  # mean of men, women in cm
    married_names: bool = False  # women often carry a birth name
    dual: tuple[str, ...] = ()  # second nationalities seen
    # What the country itself reports; absent for nationalities that only supply persons.
    texts: Texts | None = None
    document_types: tuple[tuple[DocumentType, int], ...] = ()
    plate_style: str | None = None
    makes: tuple[VehicleMake, ...] = ()
    case_reference: str | None = None
    nationalities: tuple[tuple[str, int], ...] = ()  # the hub: its persons' nationalities
    vehicle_sources: tuple[str, ...] = ()  # the hub: profiles its vehicles come from


@dataclass(frozen=True)
class SyntheticPerson:
    id: str
    person: Person


@dataclass(frozen=True)
class SyntheticCase:
    id: str
    case: Case


@dataclass(frozen=True)
class SyntheticData:
    country: str
    persons: list[SyntheticPerson]
    documents: list[TravelDocument]
    vehicles: list[Vehicle]
    cases: list[SyntheticCase]


# ---------------------------------------------------------------------------------------------
# Shared vocabularies
# ---------------------------------------------------------------------------------------------

# ICCS divisions police see most, weighted roughly by how often they occur.
_CRIMES: tuple[tuple[str, int], ...] = (
    ("0502", 20), ("0701", 14), ("0601", 12), ("0501", 10), ("0401", 8), ("0201", 6),
    ("0702", 5), ("0704", 4), ("0204", 4), ("0805", 4), ("0905", 3), ("0903", 3),
    ("0101", 3), ("0102", 2), ("0202", 2), ("0703", 2), ("0901", 2), ("0301", 2),
)  # fmt: skip
_PROPERTY_CRIMES = frozenset({"0401", "0501", "0502", "0701", "0702", "0703", "0704"})

_COLOURS: tuple[tuple[str, int], ...] = (
    ("white", 22), ("black", 18), ("grey", 16), ("silver", 12), ("blue", 10), ("red", 8),
    ("green", 3), ("beige", 3), ("brown", 3), ("yellow", 2), ("orange", 1),
)  # fmt: skip
_COLOUR_INDEX = tuple((index, weight) for index, (_, weight) in enumerate(_COLOURS))
_BODY_PARTS = (
    "left forearm", "right forearm", "neck", "back", "chest",
    "right hand", "left shoulder", "left cheek", "right calf", "left wrist",
)  # fmt: skip

_EYES: dict[str, tuple[tuple[EyeColour, int], ...]] = {
    "european": ((EyeColour.BROWN, 40), (EyeColour.BLUE, 27), (EyeColour.GREEN, 10),
                 (EyeColour.HAZEL, 13), (EyeColour.GRAY, 10)),
    "east_asian": ((EyeColour.BROWN, 70), (EyeColour.BLACK, 30)),
    "south_asian": ((EyeColour.BROWN, 80), (EyeColour.BLACK, 15), (EyeColour.HAZEL, 5)),
    "mena": ((EyeColour.BROWN, 75), (EyeColour.BLACK, 10), (EyeColour.HAZEL, 10),
             (EyeColour.GREEN, 5)),
    "latin": ((EyeColour.BROWN, 65), (EyeColour.HAZEL, 15), (EyeColour.BLACK, 10),
              (EyeColour.GREEN, 5), (EyeColour.BLUE, 5)),
}  # fmt: skip
_HAIR: dict[str, tuple[tuple[HairColour, int], ...]] = {
    "european": ((HairColour.BROWN, 45), (HairColour.BLACK, 22), (HairColour.BLOND, 18),
                 (HairColour.RED, 3), (HairColour.SANDY, 4)),
    "east_asian": ((HairColour.BLACK, 92), (HairColour.BROWN, 8)),
    "south_asian": ((HairColour.BLACK, 90), (HairColour.BROWN, 10)),
    "mena": ((HairColour.BLACK, 75), (HairColour.BROWN, 25)),
    "latin": ((HairColour.BLACK, 50), (HairColour.BROWN, 45), (HairColour.BLOND, 5)),
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Texts per language
# ---------------------------------------------------------------------------------------------

_FR = Texts(
    crimes=(
        ("0101", "homicide volontaire"), ("0102", "tentative d'homicide"),
        ("0201", "violences volontaires"), ("0202", "enlèvement et séquestration"),
        ("0204", "traite des êtres humains"), ("0301", "violences sexuelles"),
        ("0401", "vol à main armée"), ("0501", "cambriolage"), ("0502", "vol"),
        ("0601", "trafic de stupéfiants"), ("0701", "escroquerie"),
        ("0702", "faux et usage de faux"), ("0703", "corruption"), ("0704", "blanchiment"),
        ("0805", "aide à l'entrée et au séjour irréguliers"), ("0901", "trafic d'armes"),
        ("0903", "atteinte à un système de traitement automatisé de données"),
        ("0905", "association de malfaiteurs"),
    ),
    title="{crime} — {city}",
    summaries=(
        "Faits de {crime} signalés le {date}. Lieu des faits : {city}.",
        "Procédure ouverte le {date} du chef de {crime}. Lieu : {city}.",
        "Enquête ouverte le {date} ({city}) pour des faits de {crime}.",
    ),
    persons=(
        "Aucune personne identifiée à ce stade.",
        "Une personne liée à la procédure.",
        "{n} personnes liées à la procédure.",
    ),
    follow_ups=(
        "Les investigations se poursuivent.",
        "Exploitation de la téléphonie en cours.",
        "Une demande d'entraide pénale internationale est envisagée.",
        "Saisie de téléphones et de documents lors des perquisitions.",
        "Les images de vidéoprotection ont été requises.",
    ),
    also="Autres qualifications : {crimes}.",
    also_joiner=", ",
    loss="Le préjudice est estimé à {amount} €.",
    currency_step=50,
    thousands=" ",
    date_style="dmy/",
    colours=("blanc", "noir", "gris", "gris argent", "bleu", "rouge", "vert", "beige",
             "marron", "jaune", "orange"),
    body_parts=("avant-bras gauche", "avant-bras droit", "cou", "dos", "poitrine",
                "main droite", "épaule gauche", "joue gauche", "mollet droit", "poignet gauche"),
    tattoos=("rose", "dragon", "tête de mort", "ancre marine", "aigle", "motif tribal",
             "toile d'araignée", "étoile", "croix", "serpent", "lion", "fil barbelé"),
    remarks=("Individu dangereux, susceptible d'être armé.", "Connu sous plusieurs identités.",
             "Fait l'objet d'un mandat d'arrêt."),
    elision=True,
)  # fmt: skip

_UK = Texts(
    crimes=(
        ("0101", "умисне вбивство"), ("0102", "замах на вбивство"),
        ("0201", "умисне тілесне ушкодження"), ("0202", "викрадення людини"),
        ("0204", "торгівля людьми"), ("0301", "сексуальне насильство"), ("0401", "розбій"),
        ("0501", "крадіжка з проникненням у житло"), ("0502", "крадіжка"),
        ("0601", "незаконний обіг наркотичних засобів"), ("0701", "шахрайство"),
        ("0702", "підроблення документів"), ("0703", "корупційне правопорушення"),
        ("0704", "легалізація доходів, одержаних злочинним шляхом"),
        ("0805", "незаконне переправлення осіб через державний кордон"),
        ("0901", "незаконне поводження зі зброєю"),
        ("0903", "несанкціоноване втручання в роботу комп'ютерів"),
        ("0905", "створення злочинної організації"),
    ),
    title="{crime}, {city}",
    summaries=(
        "{date} внесено відомості до ЄРДР: {crime}. Місце вчинення: {city}.",
        "Досудове розслідування за фактом: {crime} ({city}), розпочато {date}.",
        "Кримінальне провадження від {date}: {crime}. Місце події: {city}.",
    ),
    persons=(
        "Причетних осіб наразі не встановлено.",
        "Кількість осіб у провадженні: 1.",
        "Кількість осіб у провадженні: {n}.",
    ),
    follow_ups=(
        "Триває досудове розслідування.",
        "Проводяться слідчі (розшукові) дії.",
        "Направлено запит про міжнародну правову допомогу.",
        "Під час обшуку вилучено мобільні телефони та документи.",
        "Вилучено записи камер відеоспостереження.",
    ),
    also="Інші кваліфікації: {crimes}.",
    also_joiner=", ",
    loss="Збитки оцінено в {amount} грн.",
    currency_step=500,
    thousands=" ",
    date_style="dmy.",
    colours=("білий", "чорний", "сірий", "сріблястий", "синій", "червоний", "зелений",
             "бежевий", "коричневий", "жовтий", "помаранчевий"),
    body_parts=("ліве передпліччя", "праве передпліччя", "шия", "спина", "груди",
                "права кисть", "ліве плече", "ліва щока", "права литка", "ліве зап'ястя"),
    tattoos=("троянда", "дракон", "череп", "якір", "орел", "племінний візерунок",
             "павутина", "зірка", "хрест", "змія", "лев", "колючий дріт"),
    remarks=("Небезпечний, може бути озброєний.", "Використовує кілька особових документів.",
             "Перебуває в розшуку."),
)  # fmt: skip

_EL = Texts(
    crimes=(
        ("0101", "ανθρωποκτονία εκ προθέσεως"), ("0102", "απόπειρα ανθρωποκτονίας"),
        ("0201", "σωματική βλάβη"), ("0202", "αρπαγή"), ("0204", "εμπορία ανθρώπων"),
        ("0301", "σεξουαλική βία"), ("0401", "ληστεία"), ("0501", "διάρρηξη"),
        ("0502", "κλοπή"), ("0601", "διακίνηση ναρκωτικών"), ("0701", "απάτη"),
        ("0702", "πλαστογραφία"), ("0703", "δωροδοκία"), ("0704", "νομιμοποίηση εσόδων"),
        ("0805", "διακίνηση μεταναστών"), ("0901", "παράνομη οπλοκατοχή"),
        ("0903", "ηλεκτρονικό έγκλημα"), ("0905", "εγκληματική οργάνωση"),
    ),
    title="{crime} — {city}",
    summaries=(
        "Υπόθεση: {crime}. Τόπος τέλεσης: {city}. Ημερομηνία: {date}.",
        "Σχηματίστηκε δικογραφία στις {date} για {crime} ({city}).",
        "Καταγγελία της {date} για {crime}. Περιοχή: {city}.",
    ),
    persons=(
        "Δεν έχουν ταυτοποιηθεί εμπλεκόμενα πρόσωπα.",
        "Εμπλεκόμενα πρόσωπα: 1.",
        "Εμπλεκόμενα πρόσωπα: {n}.",
    ),
    follow_ups=(
        "Η προανάκριση συνεχίζεται.",
        "Διενεργούνται έρευνες από την αρμόδια υπηρεσία.",
        "Έχει ζητηθεί διεθνής δικαστική συνδρομή.",
        "Κατασχέθηκαν κινητά τηλέφωνα και έγγραφα.",
        "Αναζητείται υλικό από κάμερες ασφαλείας.",
    ),
    also="Λοιπές πράξεις: {crimes}.",
    also_joiner=", ",
    loss="Η ζημία εκτιμάται σε {amount} ευρώ.",
    currency_step=50,
    thousands=".",
    date_style="dmy/",
    colours=("λευκό", "μαύρο", "γκρι", "ασημί", "μπλε", "κόκκινο", "πράσινο", "μπεζ",
             "καφέ", "κίτρινο", "πορτοκαλί"),
    body_parts=("αριστερός πήχης", "δεξιός πήχης", "λαιμός", "πλάτη", "στήθος", "δεξί χέρι",
                "αριστερός ώμος", "αριστερό μάγουλο", "δεξιά γάμπα", "αριστερός καρπός"),
    tattoos=("τριαντάφυλλο", "δράκος", "νεκροκεφαλή", "άγκυρα", "αετός", "φυλετικό σχέδιο",
             "ιστός αράχνης", "αστέρι", "σταυρός", "φίδι", "λιοντάρι", "συρματόπλεγμα"),
    remarks=("Επικίνδυνος, ενδέχεται να οπλοφορεί.", "Χρησιμοποιεί πολλαπλά στοιχεία ταυτότητας.",
             "Εκκρεμεί ένταλμα σύλληψης."),
)  # fmt: skip

_JA = Texts(
    crimes=(
        ("0101", "殺人"), ("0102", "殺人未遂"), ("0201", "傷害"), ("0202", "略取誘拐"),
        ("0204", "人身取引"), ("0301", "不同意性交等"), ("0401", "強盗"), ("0501", "侵入盗"),
        ("0502", "窃盗"), ("0601", "覚醒剤取締法違反"), ("0701", "詐欺"), ("0702", "有印私文書偽造"),
        ("0703", "贈収賄"), ("0704", "組織犯罪処罰法違反（犯罪収益隠匿）"),
        ("0805", "入管法違反（不法入国）"), ("0901", "銃刀法違反"), ("0903", "不正アクセス禁止法違反"),
        ("0905", "組織的犯罪"),
    ),
    title="{city}における{crime}事件",
    summaries=(
        "{date}、{city}において発生した{crime}事件。",
        "{date}に受理した{crime}事件について捜査中。発生場所：{city}。",
        "{city}管内で{date}に認知された{crime}事件。",
    ),
    persons=("関係者は未特定。", "関係者1名。", "関係者{n}名。"),
    follow_ups=(
        "捜査を継続中。",
        "関係先を捜索し、証拠品を押収した。",
        "国際捜査共助を要請予定。",
        "防犯カメラの映像を解析中。",
        "携帯電話の通信履歴を照会中。",
    ),
    also="余罪：{crimes}。",
    also_joiner="、",
    loss="被害額は約{amount}円。",
    currency_step=10_000,
    thousands=",",
    date_style="ja",
    colours=("白", "黒", "グレー", "シルバー", "青", "赤", "緑", "ベージュ", "茶", "黄", "オレンジ"),
    body_parts=("左前腕", "右前腕", "首", "背中", "胸", "右手", "左肩", "左頬", "右ふくらはぎ", "左手首"),
    tattoos=("バラ", "龍", "ドクロ", "錨", "鷲", "トライバル模様", "蜘蛛の巣", "星", "十字架", "蛇",
             "唐獅子", "有刺鉄線"),
    remarks=("凶器を所持している可能性あり。", "複数の偽名を使用。", "逮捕状発付済み。"),
)  # fmt: skip

_EN = Texts(
    crimes=(
        ("0101", "homicide"), ("0102", "attempted homicide"), ("0201", "assault"),
        ("0202", "kidnapping"), ("0204", "trafficking in persons"), ("0301", "sexual violence"),
        ("0401", "armed robbery"), ("0501", "burglary"), ("0502", "theft"),
        ("0601", "drug trafficking"), ("0701", "fraud"), ("0702", "document forgery"),
        ("0703", "corruption"), ("0704", "money laundering"), ("0805", "migrant smuggling"),
        ("0901", "arms trafficking"), ("0903", "cybercrime"), ("0905", "organised crime"),
    ),
    title="{crime} — {city}",
    summaries=(
        "{crime} reported on {date} in {city}.",
        "International investigation into {crime} opened on {date} ({city}).",
        "Case opened on {date} at the request of the national central bureau: {crime}, {city}.",
    ),
    persons=(
        "No person identified yet.",
        "One person linked to the case.",
        "{n} persons linked to the case.",
    ),
    follow_ups=(
        "Coordinated with the national central bureaus concerned.",
        "Red notices requested for the main suspects.",
        "Financial investigation in progress.",
        "Diffusion circulated to member countries.",
        "Analysis of seized devices in progress.",
    ),
    also="Also: {crimes}.",
    also_joiner=", ",
    loss="Estimated loss: EUR {amount}.",
    currency_step=1_000,
    thousands=",",
    date_style="en",
    colours=tuple(colour for colour, _ in _COLOURS),
    body_parts=_BODY_PARTS,
    tattoos=("rose", "dragon", "skull", "anchor", "eagle", "tribal pattern", "spider web",
             "star", "cross", "snake", "lion", "barbed wire"),
    remarks=("Dangerous, may be armed.", "Known to use several identities."),
)  # fmt: skip

_ELISION = re.compile(r"\b([Dd])e ([aeiouyéèêâîôûhAEIOUYÉH])")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Vehicles per country
# ---------------------------------------------------------------------------------------------

_M = VehicleModel
_VAN = VehicleCategory.VAN
_TRUCK = VehicleCategory.TRUCK
_MOTO = VehicleCategory.MOTORCYCLE

_FRA_MAKES = (
    VehicleMake("Renault", ("VF1",), (
        _M("Clio", 1990), _M("Mégane", 1995), _M("Captur", 2013), _M("Scénic", 1996),
        _M("Twingo", 1993), _M("Zoe", 2012), _M("Austral", 2022), _M("Arkana", 2021),
        _M("Kangoo", 1997, category=_VAN), _M("Trafic", 2001, category=_VAN),
        _M("Master", 1997, category=_VAN),
    ), 24),
    VehicleMake("Peugeot", ("VF3",), (
        _M("206", 1998, 2012), _M("207", 2006, 2014), _M("208", 2012), _M("308", 2007),
        _M("2008", 2013), _M("3008", 2009), _M("5008", 2009), _M("Partner", 1996, category=_VAN),
        _M("Expert", 1995, category=_VAN), _M("Boxer", 1994, category=_VAN),
    ), 22),
    VehicleMake("Citroën", ("VF7",), (
        _M("C3", 2002), _M("C4", 2004), _M("C5 Aircross", 2018), _M("Xsara Picasso", 1999, 2012),
        _M("Berlingo", 1996, category=_VAN), _M("Jumpy", 1995, category=_VAN),
    ), 14),
    VehicleMake("Dacia", ("UU1",), (
        _M("Sandero", 2008), _M("Duster", 2010), _M("Logan", 2004), _M("Jogger", 2021),
        _M("Spring", 2021),
    ), 10),
    VehicleMake("Toyota", ("VNK",), (_M("Yaris", 1999), _M("C-HR", 2016, wmis=("NMT",))), 6),
    VehicleMake("Volkswagen", ("WVW",), (_M("Golf", 1995), _M("Polo", 1995), _M("T-Roc", 2017)), 7),
    VehicleMake("Renault Trucks", ("VF6",), (_M("T", 2013, category=_TRUCK),
                                             _M("D", 2013, category=_TRUCK)), 2),
    VehicleMake("Yamaha", ("JYA",), (_M("TMAX", 2001, category=_MOTO),
                                     _M("MT-07", 2014, category=_MOTO)), 3),
)  # fmt: skip

_UKR_MAKES = (
    VehicleMake("Toyota", ("JTD",), (
        _M("Camry", 1995, wmis=("JTN",)), _M("RAV4", 1995, wmis=("JTM",)),
        _M("Land Cruiser Prado", 1996, wmis=("JTE",)), _M("Corolla", 1995),
    ), 16),
    VehicleMake("Volkswagen", ("WVW", "WV2"), (
        _M("Golf", 1995), _M("Passat", 1996), _M("Polo", 1995), _M("Transporter", 1995, category=_VAN),
    ), 14),
    VehicleMake("Škoda", ("TMB",), (
        _M("Octavia", 1996), _M("Superb", 2001), _M("Fabia", 1999), _M("Kodiaq", 2016),
    ), 12),
    VehicleMake("ЗАЗ", ("Y6D",), (_M("Lanos", 2005, 2017), _M("Sens", 2002, 2014),
                                  _M("Vida", 2012, 2018)), 5),
    VehicleMake("ВАЗ (Lada)", ("XTA",), (_M("2107", 1982, 2012), _M("Priora", 2007, 2018),
                                         _M("Niva", 1995), _M("Granta", 2011)), 5),
    VehicleMake("Renault", ("VF1",), (_M("Megane", 1995), _M("Duster", 2010, wmis=("UU1",)),
                                      _M("Logan", 2004, wmis=("UU1",))), 9),
    VehicleMake("BMW", ("WBA",), (_M("X5", 1999, wmis=("5UX",)), _M("3 Series", 1995),
                                  _M("5 Series", 1995)), 6),
    VehicleMake("Mercedes-Benz", ("WDD", "WDB"), (
        _M("E-Class", 1995), _M("C-Class", 1995), _M("Sprinter", 1995, category=_VAN),
    ), 6),
    VehicleMake("Hyundai", ("KMH",), (_M("Tucson", 2004), _M("Accent", 1995), _M("Elantra", 1995)), 7),
    VehicleMake("Kia", ("KNA", "U5Y"), (_M("Sportage", 1995), _M("Ceed", 2006)), 6),
    VehicleMake("Mitsubishi", ("JMB",), (_M("Lancer", 1995, 2017), _M("Outlander", 2001)), 4),
    VehicleMake("MAN", ("WMA",), (_M("TGX", 2007, category=_TRUCK),), 2),
)  # fmt: skip

_GRC_MAKES = (
    VehicleMake("Toyota", ("JTD", "VNK"), (
        _M("Yaris", 1999), _M("Aygo", 2005), _M("Corolla", 1995), _M("Hilux", 1995, wmis=("MR0",)),
    ), 18),
    VehicleMake("Fiat", ("ZFA",), (
        _M("Panda", 1995), _M("Punto", 1995, 2018), _M("500", 2007), _M("Doblò", 2001, category=_VAN),
    ), 10),
    VehicleMake("Opel", ("W0L",), (_M("Corsa", 1995), _M("Astra", 1995), _M("Meriva", 2003, 2017)), 9),
    VehicleMake("Suzuki", ("JSA", "TSM"), (_M("Swift", 1995), _M("Vitara", 1995), _M("Jimny", 1998)), 8),
    VehicleMake("Hyundai", ("KMH", "NLH"), (_M("i10", 2008), _M("i20", 2009), _M("Accent", 1995)), 8),
    VehicleMake("Nissan", ("SJN",), (_M("Qashqai", 2007), _M("Micra", 1995),
                                     _M("Navara", 1997, wmis=("VSK",))), 7),
    VehicleMake("Peugeot", ("VF3",), (_M("206", 1998, 2012), _M("208", 2012), _M("2008", 2013)), 6),
    VehicleMake("Volkswagen", ("WVW",), (_M("Polo", 1995), _M("Golf", 1995)), 7),
    VehicleMake("Citroën", ("VF7",), (_M("C3", 2002), _M("C4", 2004)), 4),
    VehicleMake("Mercedes-Benz", ("WDB",), (_M("Actros", 1996, category=_TRUCK),), 2),
    VehicleMake("Piaggio", ("ZAP",), (_M("Liberty", 1997, category=_MOTO),
                                      _M("Vespa Primavera", 2013, category=_MOTO)), 8),
    VehicleMake("Honda", ("JH2",), (_M("SH 150", 2001, category=_MOTO),), 5),
)  # fmt: skip

_JPN_MAKES = (
    VehicleMake("トヨタ", ("JTD", "JTN", "JTE"), (
        _M("プリウス", 1997), _M("アクア", 2011, plate_class="5"), _M("カローラ", 1995),
        _M("ランドクルーザー", 1995), _M("アルファード", 2002), _M("クラウン", 1995),
    ), 24),
    VehicleMake("トヨタ", ("JTF",), (_M("ハイエース", 1995, category=_VAN, plate_class="4"),), 5),
    VehicleMake("レクサス", ("JTH", "JTJ"), (_M("RX", 1998), _M("LS", 1995), _M("NX", 2014)), 5),
    VehicleMake("ホンダ", ("JHM",), (
        _M("フィット", 2001, plate_class="5"), _M("シビック", 1995), _M("N-BOX", 2011, plate_class="58"),
        _M("ヴェゼル", 2013), _M("フリード", 2008, plate_class="5"), _M("ステップワゴン", 1996),
    ), 14),
    VehicleMake("日産", ("JN1",), (
        _M("ノート", 2005, plate_class="5"), _M("セレナ", 1995), _M("エクストレイル", 2000),
        _M("スカイライン", 1995), _M("リーフ", 2010),
    ), 11),
    VehicleMake("マツダ", ("JM1", "JMZ"), (_M("デミオ", 1996, plate_class="5"), _M("CX-5", 2012),
                                           _M("ロードスター", 1995, plate_class="5")), 5),
    VehicleMake("スバル", ("JF1", "JF2"), (_M("インプレッサ", 1995), _M("フォレスター", 1997),
                                           _M("レガシィ", 1995)), 4),
    VehicleMake("スズキ", ("JS2", "JS3"), (_M("スイフト", 2000, plate_class="5"),
                                           _M("ワゴンR", 1995, plate_class="58"),
                                           _M("ジムニー", 1998, plate_class="58"),
                                           _M("ハスラー", 2014, plate_class="58")), 9),
    VehicleMake("ダイハツ", ("JDA",), (_M("タント", 2003, plate_class="58"),
                                      _M("ムーヴ", 1995, plate_class="58"),
                                      _M("ミラ", 1995, 2018, plate_class="58")), 8),
    VehicleMake("三菱", ("JMB", "JA4"), (_M("アウトランダー", 2005), _M("デリカ", 1995),
                                        _M("eKワゴン", 2001, plate_class="58")), 4),
    VehicleMake("いすゞ", ("JAL",), (_M("エルフ", 1995, category=_TRUCK, plate_class="1"),), 2),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Cities
# ---------------------------------------------------------------------------------------------

_FRA_CITIES = tuple(
    City(name, (dept,), weight)
    for name, dept, weight in (
        ("Paris", "75", 8), ("Marseille", "13", 4), ("Lyon", "69", 4), ("Toulouse", "31", 3),
        ("Nice", "06", 3), ("Nantes", "44", 2), ("Strasbourg", "67", 2), ("Montpellier", "34", 2),
        ("Bordeaux", "33", 2), ("Lille", "59", 3), ("Rennes", "35", 1), ("Reims", "51", 1),
        ("Le Havre", "76", 1), ("Saint-Étienne", "42", 1), ("Toulon", "83", 1),
        ("Grenoble", "38", 1), ("Dijon", "21", 1), ("Angers", "49", 1), ("Nîmes", "30", 1),
        ("Clermont-Ferrand", "63", 1), ("Le Mans", "72", 1), ("Brest", "29", 1),
        ("Tours", "37", 1), ("Amiens", "80", 1), ("Limoges", "87", 1), ("Perpignan", "66", 1),
        ("Metz", "57", 1), ("Besançon", "25", 1), ("Orléans", "45", 1), ("Rouen", "76", 1),
        ("Mulhouse", "68", 1), ("Caen", "14", 1), ("Nancy", "54", 1), ("Avignon", "84", 1),
        ("Saint-Denis", "93", 2), ("Montreuil", "93", 1), ("Roubaix", "59", 1),
        ("Créteil", "94", 1), ("Nanterre", "92", 1), ("Versailles", "78", 1),
    )
)  # fmt: skip

_UKR_CITIES = tuple(
    City(name, codes, weight)
    for name, codes, weight in (
        ("Київ", ("AA", "KA", "TT"), 8), ("Харків", ("AX", "KX"), 4), ("Одеса", ("BH", "HH"), 4),
        ("Дніпро", ("AE", "KE"), 4), ("Львів", ("BC", "HC"), 3), ("Запоріжжя", ("AP", "KP"), 2),
        ("Кривий Ріг", ("AE", "KE"), 1), ("Вінниця", ("AB", "KB"), 1), ("Полтава", ("BI", "HI"), 1),
        ("Чернігів", ("CB", "IM"), 1), ("Житомир", ("AM", "KM"), 1), ("Черкаси", ("CA", "IA"), 1),
        ("Суми", ("BM", "HM"), 1), ("Ужгород", ("AO", "KO"), 1), ("Івано-Франківськ", ("AT", "KT"), 1),
        ("Тернопіль", ("BO", "HO"), 1), ("Рівне", ("BK", "HK"), 1), ("Луцьк", ("AC", "KC"), 1),
        ("Хмельницький", ("BX", "HX"), 1), ("Чернівці", ("CE", "IE"), 1), ("Миколаїв", ("BE", "HE"), 1),
        ("Кропивницький", ("BA", "HA"), 1), ("Херсон", ("BT", "HT"), 1), ("Біла Церква", ("AI", "KI"), 1),
    )
)  # fmt: skip

_GRC_CITIES = tuple(
    City(name, codes, weight)
    for name, codes, weight in (
        ("Αθήνα", ("Υ", "Ζ", "Ι", "Κ"), 10), ("Πειραιάς", ("Υ", "Ζ", "Ι", "Κ"), 3),
        ("Θεσσαλονίκη", ("Ν",), 5), ("Πάτρα", ("ΑΧ",), 2), ("Ηράκλειο", ("ΗΚ", "ΗΡ"), 2),
        ("Λάρισα", ("ΡΙ",), 1), ("Βόλος", ("ΒΟ",), 1), ("Ιωάννινα", ("ΙΝ",), 1),
        ("Καβάλα", ("ΚΒ",), 1), ("Χανιά", ("ΧΝ",), 1), ("Ρόδος", ("ΡΟ",), 1),
        ("Κέρκυρα", ("ΚΥ",), 1), ("Σέρρες", ("ΕΡ",), 1), ("Καλαμάτα", ("ΚΜ",), 1),
        ("Χαλκίδα", ("ΧΑ",), 1), ("Κομοτηνή", ("ΚΟ",), 1), ("Τρίπολη", ("ΤΡ",), 1),
        ("Λαμία", ("ΜΙ",), 1), ("Κατερίνη", ("ΚΝ",), 1),
    )
)  # fmt: skip

_JPN_CITIES = tuple(
    City(name, codes, weight)
    for name, codes, weight in (
        ("東京都", ("品川", "練馬", "足立", "多摩", "八王子", "世田谷", "杉並", "江東"), 10),
        ("大阪市", ("なにわ", "大阪"), 5), ("横浜市", ("横浜",), 4), ("名古屋市", ("名古屋",), 4),
        ("札幌市", ("札幌",), 2), ("福岡市", ("福岡",), 2), ("神戸市", ("神戸",), 2),
        ("京都市", ("京都",), 2), ("川崎市", ("川崎",), 1), ("さいたま市", ("大宮",), 1),
        ("広島市", ("広島",), 1), ("仙台市", ("宮城", "仙台"), 1), ("千葉市", ("千葉", "習志野"), 1),
        ("北九州市", ("北九州",), 1), ("浜松市", ("浜松",), 1), ("新潟市", ("新潟",), 1),
        ("熊本市", ("熊本",), 1), ("岡山市", ("岡山",), 1), ("静岡市", ("静岡",), 1),
        ("宇都宮市", ("宇都宮",), 1), ("那覇市", ("沖縄",), 1), ("金沢市", ("金沢",), 1),
        ("鹿児島市", ("鹿児島",), 1),
    )
)  # fmt: skip


def _cities(*names: str) -> tuple[City, ...]:
    return tuple(City(name, (), 3 if index == 0 else 1) for index, name in enumerate(names))


def _coded_cities(*pairs: tuple[str, str]) -> tuple[City, ...]:
    return tuple(City(name, (code,), 3 if index == 0 else 1) for index, (name, code) in enumerate(pairs))


_HUB_CITIES = _cities(
    "Lyon",
    "Singapore",
    "London",
    "Paris",
    "Madrid",
    "Rome",
    "Berlin",
    "Istanbul",
    "Dubai",
    "Bangkok",
    "Athens",
    "Kyiv",
    "Tokyo",
    "Cairo",
    "Mumbai",
    "São Paulo",
    "Johannesburg",
    "Lagos",
    "Mexico City",
    "Marseille",
    "Rotterdam",
    "Antwerp",
    "Hong Kong",
    "Sydney",
)

# ---------------------------------------------------------------------------------------------
# The profiles
# ---------------------------------------------------------------------------------------------

_PASSPORT_ETC: tuple[tuple[DocumentType, int], ...] = (
    (DocumentType.PASSPORT, 55), (DocumentType.IDENTITY_CARD, 41),
    (DocumentType.SERVICE_PASSPORT, 2), (DocumentType.DIPLOMATIC_PASSPORT, 2),
)  # fmt: skip

_FRA = CountryProfile(
    country="FRA", locale="fr_FR", language="fr", spoken=("fra",), name_style="western",
    romanization=None, cities=_FRA_CITIES,
    passport="##??#####", identity_card="*********",
    identity_card_since=("2021-08-02", "############"), national_id="nir",
    height=(176, 163), married_names=True, dual=("DZA", "MAR", "TUN", "PRT", "ITA", "ESP", "SEN"),
    texts=_FR, document_types=_PASSPORT_ETC, plate_style="fra", makes=_FRA_MAKES,
    case_reference="fra",
)  # fmt: skip

_UKR = CountryProfile(
    country="UKR", locale="uk_UA", language="uk", spoken=("ukr", "rus"), name_style="slavic",
    romanization="ukr", cities=_UKR_CITIES,
    passport="??######", identity_card="#########", national_id="unzr",
    height=(177, 165), married_names=True, dual=("POL", "MDA", "ROU", "HUN", "ISR"),
    texts=_UK,
    document_types=((DocumentType.PASSPORT, 62), (DocumentType.IDENTITY_CARD, 33),
                    (DocumentType.SERVICE_PASSPORT, 3), (DocumentType.DIPLOMATIC_PASSPORT, 2)),
    plate_style="ukr", makes=_UKR_MAKES, case_reference="ukr",
)  # fmt: skip

_GRC = CountryProfile(
    country="GRC", locale="el_GR", language="el", spoken=("ell",), name_style="western",
    romanization="rigour", cities=_GRC_CITIES,
    passport="??#######", identity_card="@@######", national_id="amka",
    passport_years=(5, 10), height=(177, 165), dual=("CYP", "ALB", "USA", "AUS", "DEU"),
    texts=_EL, document_types=_PASSPORT_ETC, plate_style="grc", makes=_GRC_MAKES,
    case_reference="grc",
)  # fmt: skip

_JPN = CountryProfile(
    country="JPN", locale="ja_JP", language="ja", spoken=("jpn",), name_style="japanese",
    romanization="japanese", cities=_JPN_CITIES,
    passport="??#######", national_id="my_number", passport_years=(5, 10),
    physique="east_asian", height=(171, 158), married_names=True, dual=("USA", "BRA", "PER"),
    texts=_JA,
    document_types=((DocumentType.PASSPORT, 96), (DocumentType.SERVICE_PASSPORT, 3),
                    (DocumentType.DIPLOMATIC_PASSPORT, 1)),
    plate_style="jpn", makes=_JPN_MAKES, case_reference="jpn",
)  # fmt: skip

# Nationalities that only supply the hub's persons.
_FOREIGN = (
    CountryProfile(
        country="DEU", locale="de_DE", language="de", spoken=("deu",), name_style="western",
        romanization=None, passport="$!!!!!!!!", identity_card="&!!!!!!!!", height=(180, 166),
        married_names=True, dual=("TUR", "POL", "ITA"),
        cities=_cities("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart",
                       "Düsseldorf", "Leipzig", "Dortmund", "Essen", "Bremen", "Dresden"),
    ),
    CountryProfile(
        country="ESP", locale="es_ES", language="es", spoken=("spa",), name_style="spanish",
        romanization=None, passport="???######", identity_card="???######", national_id="dni",
        height=(176, 163), dual=("ARG", "COL", "MAR"),
        cities=_cities("Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Málaga",
                       "Murcia", "Palma", "Bilbao", "Alicante", "Córdoba", "Valladolid"),
    ),
    CountryProfile(
        country="ITA", locale="it_IT", language="it", spoken=("ita",), name_style="western",
        romanization=None, passport="??#######", identity_card="CA#####??", height=(176, 163),
        dual=("ARG", "BRA", "USA"),
        cities=_cities("Roma", "Milano", "Napoli", "Torino", "Palermo", "Genova", "Bologna",
                       "Firenze", "Bari", "Catania", "Venezia", "Verona"),
    ),
    CountryProfile(
        country="GBR", locale="en_GB", language="en", spoken=("eng",), name_style="western",
        romanization=None, passport="#########", national_id="nino", height=(177, 164),
        married_names=True, dual=("IRL", "USA", "AUS", "JAM"),
        cities=_cities("London", "Birmingham", "Manchester", "Glasgow", "Liverpool", "Leeds",
                       "Sheffield", "Edinburgh", "Bristol", "Cardiff", "Belfast", "Leicester"),
    ),
    CountryProfile(
        country="RUS", locale="ru_RU", language="ru", spoken=("rus",), name_style="slavic",
        romanization="rus", passport="#########", identity_card="##########", height=(176, 164),
        married_names=True, dual=("ISR", "KAZ", "ARM"),
        cities=_cities("Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург", "Казань",
                       "Нижний Новгород", "Челябинск", "Самара", "Омск", "Ростов-на-Дону"),
    ),
    CountryProfile(
        country="CHN", locale="zh_CN", language="zh", spoken=("zho",), name_style="family_first",
        romanization="rigour", passport="E########", national_id="cn_resident",
        physique="east_asian", height=(172, 160),
        cities=_coded_cities(("北京", "110101"), ("上海", "310101"), ("广州", "440103"),
                             ("深圳", "440303"), ("天津", "120101"), ("重庆", "500101"),
                             ("成都", "510104"), ("武汉", "420102"), ("西安", "610102"),
                             ("杭州", "330102"), ("南京", "320102"), ("温州", "330302"),
                             ("福州", "350102"), ("沈阳", "210102")),
    ),
    CountryProfile(
        country="IND", locale="hi_IN", language="hi", spoken=("hin",), name_style="western",
        romanization="rigour", passport="?#######", national_id="aadhaar",
        physique="south_asian", height=(166, 153),
        cities=_cities("मुंबई", "दिल्ली", "बेंगलुरु", "कोलकाता", "चेन्नई", "हैदराबाद",
                       "अहमदाबाद", "पुणे", "जयपुर", "लखनऊ", "कानपुर", "पटना"),
    ),
    CountryProfile(
        country="SAU", locale="ar_SA", language="ar", spoken=("ara",), name_style="western",
        romanization="rigour", passport="?########", national_id="sau_id", physique="mena",
        height=(172, 157),
        cities=_cities("الرياض", "جدة", "مكة المكرمة", "المدينة المنورة", "الدمام", "الطائف",
                       "تبوك", "بريدة", "أبها", "الخبر"),
    ),
    CountryProfile(
        # Faker's ar_EG has no Arabic names; ar_AA (generic Arabic) supplies them.
        country="EGY", locale="ar_AA", language="ar", spoken=("ara",), name_style="western",
        romanization="rigour", passport="A########", national_id="egy_id", physique="mena",
        height=(171, 158),
        cities=_coded_cities(("القاهرة", "01"), ("الإسكندرية", "02"), ("الجيزة", "21"),
                             ("بورسعيد", "03"), ("السويس", "04"), ("الأقصر", "29"),
                             ("أسوان", "28"), ("المنصورة", "12"), ("طنطا", "16"), ("أسيوط", "25")),
    ),
    CountryProfile(
        country="TUR", locale="tr_TR", language="tr", spoken=("tur",), name_style="western",
        romanization=None, passport="U########", national_id="tc_kimlik", physique="mena",
        height=(174, 161), married_names=True, dual=("DEU", "NLD", "BGR"),
        cities=_cities("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Adana", "Konya",
                       "Gaziantep", "Diyarbakır", "Mersin", "Kayseri", "Trabzon"),
    ),
    CountryProfile(
        country="KOR", locale="ko_KR", language="ko", spoken=("kor",), name_style="family_first",
        romanization="korean", passport="M########", physique="east_asian", height=(174, 161),
        cities=_cities("서울", "부산", "인천", "대구", "대전", "광주", "울산", "수원", "창원", "고양"),
    ),
    CountryProfile(
        country="BRA", locale="pt_BR", language="pt", spoken=("por",), name_style="western",
        romanization=None, passport="??######", national_id="cpf", physique="latin",
        height=(173, 160), dual=("PRT", "ITA"),
        cities=_cities("São Paulo", "Rio de Janeiro", "Brasília", "Salvador", "Fortaleza",
                       "Belo Horizonte", "Manaus", "Curitiba", "Recife", "Porto Alegre"),
    ),
)  # fmt: skip

_XPO = CountryProfile(
    country=HUB_COUNTRY, locale="en_GB", language="en", spoken=("eng",), name_style="western",
    romanization=None, cities=_HUB_CITIES,
    passport="IP#######", identity_card="IC#######",  # INTERPOL travel documents (invented format)
    texts=_EN,
    document_types=((DocumentType.PASSPORT, 70), (DocumentType.IDENTITY_CARD, 30)),
    case_reference="xpo",
    nationalities=(
        ("FRA", 6), ("UKR", 6), ("GRC", 3), ("JPN", 3), ("DEU", 6), ("ESP", 5), ("ITA", 5),
        ("GBR", 5), ("RUS", 8), ("CHN", 6), ("IND", 5), ("SAU", 4), ("EGY", 4), ("TUR", 6),
        ("KOR", 2), ("BRA", 5),
    ),
    vehicle_sources=("FRA", "UKR", "GRC", "JPN"),
)  # fmt: skip

PROFILES: dict[str, CountryProfile] = {p.country: p for p in (_FRA, _UKR, _GRC, _JPN, _XPO)}
_NATIONALITIES: dict[str, CountryProfile] = {p.country: p for p in (_FRA, _UKR, _GRC, _JPN, *_FOREIGN)}

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALPHABETS = {
    "#": _DIGITS,
    "%": "123456789",
    "?": _UPPER,
    "*": _UPPER + _DIGITS,
    "@": "ABEHIKMNOPTXYZ",  # Latin letters with a Greek twin (Greek identity cards)
    "!": "CFGHJKLMNPRTVWXYZ0123456789",  # characters of German document numbers
    "$": "CFGHJK",  # first character of a German passport number
    "&": "LMNPRTVWXY",  # first character of a German identity card number
}


def _fill(rng: random.Random, pattern: str) -> str:
    return "".join(rng.choice(_ALPHABETS[c]) if c in _ALPHABETS else c for c in pattern)


def _pick(rng: random.Random, weighted: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def _city(rng: random.Random, cities: Sequence[City]) -> City:
    return rng.choices(cities, [city.weight for city in cities])[0]


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_DIGITS) for _ in range(count))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _luhn(payload: str) -> str:
    """The Luhn check digit to append to ``payload``."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _verhoeff(payload: str) -> str:
    check = 0
    for index, char in enumerate(reversed(payload)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[(index + 1) % 8][int(char)]]
    return str(_VERHOEFF_INV[check])


def _national_id(
    style: str, rng: random.Random, birth: dt.date, sex: Sex, city: City | None
) -> tuple[IdentifierKind, str]:
    """A national number in the country's real format, with its real check digits."""
    male = sex is Sex.MALE
    if style == "nir":  # French social security number (NIR) and its key
        dept = city.codes[0] if city and city.codes else "99"
        body = f"{1 if male else 2}{birth:%y%m}{dept}{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
        return IdentifierKind.SOCIAL_SECURITY, f"{body}{97 - int(body) % 97:02d}"
    if style == "unzr":  # Ukrainian demographic register number
        body = f"{birth:%Y%m%d}{_digits(rng, 4)}"
        check = sum(int(c) * (7, 3, 1)[i % 3] for i, c in enumerate(body)) % 10
        return IdentifierKind.NATIONAL_ID, f"{body[:8]}-{body[8:]}{check}"
    if style == "amka":  # Greek social security number: DDMMYY, serial (odd for men), Luhn
        serial = f"{_digits(rng, 3)}{rng.choice('13579' if male else '02468')}"
        body = f"{birth:%d%m%y}{serial}"
        return IdentifierKind.SOCIAL_SECURITY, body + _luhn(body)
    if style == "my_number":  # Japanese individual number with its check digit
        body = _digits(rng, 11)
        total = sum(int(c) * (n + 1 if n <= 6 else n - 5) for n, c in enumerate(reversed(body), 1))
        remainder = total % 11
        return IdentifierKind.NATIONAL_ID, body + str(0 if remainder <= 1 else 11 - remainder)
    if style == "dni":  # Spanish DNI and its control letter
        number = rng.randint(10_000_000, 99_999_999)
        return IdentifierKind.NATIONAL_ID, f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"
    if style == "nino":  # UK National Insurance number
        prefix = "GB"
        while prefix in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
            prefix = rng.choice("ABCEGHJKLMNOPRSTWXYZ") + rng.choice("ABCEGHJKLMNPRSTWXYZ")
        return IdentifierKind.SOCIAL_SECURITY, f"{prefix}{_digits(rng, 6)}{rng.choice('ABCD')}"
    if style == "cn_resident":  # Chinese resident identity number (GB 11643)
        region = city.codes[0] if city and city.codes else "110101"
        serial = f"{_digits(rng, 2)}{rng.choice('13579' if male else '02468')}"
        body = f"{region}{birth:%Y%m%d}{serial}"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
        return IdentifierKind.NATIONAL_ID, body + "10X98765432"[total % 11]
    if style == "aadhaar":  # Indian Aadhaar number, Verhoeff check digit
        body = f"{rng.randint(2, 9)}{_digits(rng, 10)}"
        return IdentifierKind.NATIONAL_ID, body + _verhoeff(body)
    if style == "sau_id":  # Saudi national identity number (citizens start with 1)
        body = f"1{_digits(rng, 8)}"
        return IdentifierKind.NATIONAL_ID, body + _luhn(body)
    if style == "egy_id":  # Egyptian national number: century, birth date, governorate, serial
        governorate = city.codes[0] if city and city.codes else "01"
        century = "2" if birth.year < 2000 else "3"
        serial = f"{_digits(rng, 3)}{rng.choice('13579' if male else '02468')}"
        return IdentifierKind.NATIONAL_ID, f"{century}{birth:%y%m%d}{governorate}{serial}{_digits(rng, 1)}"
    if style == "tc_kimlik":  # Turkish identity number with its two check digits
        digits = [rng.randint(1, 9), *(rng.randint(0, 9) for _ in range(8))]
        tenth = ((sum(digits[0:9:2]) * 7) - sum(digits[1:8:2])) % 10
        digits.append(tenth)
        digits.append(sum(digits) % 10)
        return IdentifierKind.NATIONAL_ID, "".join(map(str, digits))
    if style == "cpf":  # Brazilian CPF with its two check digits
        digits = [rng.randint(0, 9) for _ in range(9)]
        for length in (9, 10):
            total = sum(d * (length + 1 - i) for i, d in enumerate(digits))
            digits.append(total * 10 % 11 % 10)
        text = "".join(map(str, digits))
        return IdentifierKind.TAX_ID, f"{text[:3]}.{text[3:6]}.{text[6:9]}-{text[9:]}"
    raise ValueError(f"unknown national identifier style {style!r}")


# ---------------------------------------------------------------------------------------------
# Romanization
# ---------------------------------------------------------------------------------------------

# Ukrainian: the national standard of 2010 (Cabinet resolution 55), which passports use.
_UKR_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "'": "", "’": "", "ʼ": "",
}  # fmt: skip
_UKR_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}

# Russian: ICAO Doc 9303 (2013), which Russian passports use.
_RUS_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip

# Korean surnames as their bearers spell them in passports.
_KOREAN_SURNAMES = {
    "김": "Kim", "이": "Lee", "박": "Park", "최": "Choi", "정": "Jung", "강": "Kang", "조": "Cho",
    "윤": "Yoon", "장": "Jang", "임": "Lim", "한": "Han", "오": "Oh", "서": "Seo", "신": "Shin",
    "권": "Kwon", "황": "Hwang", "안": "Ahn", "송": "Song", "류": "Ryu", "홍": "Hong", "노": "Noh",
    "배": "Bae", "전": "Jeon", "고": "Ko", "문": "Moon", "양": "Yang", "손": "Son", "백": "Baek",
}  # fmt: skip


def _table_latin(word: str, table: dict[str, str], initial: dict[str, str]) -> str:
    out: list[str] = []
    start = True
    for index, char in enumerate(word):
        lower = char.lower()
        if lower in table:
            latin = initial.get(lower, table[lower]) if start else table[lower]
            if lower == "г" and index > 0 and word[index - 1].lower() == "з" and table is _UKR_LATIN:
                latin = "gh"  # зг is zgh, so it is not read as zh
            if char != lower and latin:
                latin = latin[0].upper() + latin[1:]
            out.append(latin)
            start = False
        else:
            out.append(char)
            start = not char.isalpha()
    return "".join(out)


@lru_cache(maxsize=8192)
def _latin(word: str, scheme: str) -> str:
    """The Latin spelling of one name part (cached: names repeat, ``ascii_text`` is slow)."""
    if scheme == "ukr":
        return _table_latin(word, _UKR_LATIN, _UKR_INITIAL)
    if scheme == "rus":
        return _table_latin(word, _RUS_LATIN, {})
    if scheme == "korean" and word in _KOREAN_SURNAMES:
        return _KOREAN_SURNAMES[word]
    text = ascii_text(word).replace("?", "").replace("'", "")
    parts: list[str] = []
    for native, latin in zip(word.split(), text.split(), strict=False):
        if latin.endswith("a") and len(latin) > 2 and _ends_in_devanagari_consonant(native):
            latin = latin[:-1]  # the inherent vowel of a final consonant is not spoken
        parts.append(latin)
    if len(parts) != len(text.split()):
        parts = text.split()
    if any(_is_han_or_hangul(char) for char in word):
        return "".join(parts).capitalize()  # syllables of one name are written together
    return " ".join(part.capitalize() for part in parts)


def _ends_in_devanagari_consonant(word: str) -> bool:
    return bool(word) and ("\u0915" <= word[-1] <= "\u0939" or "\u0958" <= word[-1] <= "\u095f")


def _is_han_or_hangul(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7a3"


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


@dataclass
class _Name:
    given: str
    family: str
    patronymic: str | None = None
    reading: tuple[str, str] | None = None  # Japanese kana: family, given
    latin: tuple[str, str] | None = None  # given, family in Latin letters


@dataclass
class _Held:
    """A document a generated person holds, so a travel document can be reported for it."""

    kind: DocumentType
    number: str
    issued_on: dt.date
    expires_on: dt.date


@dataclass
class _PersonInfo:
    id: str
    person: Person
    profile: CountryProfile
    held: list[_Held]


_SEXES = ((Sex.MALE, 72), (Sex.FEMALE, 28))
# Blank documents come in batches of about five, so about 7% of the reports are blanks.
_FRESH_DOCUMENT_STATUSES = (
    (DocumentStatus.STOLEN, 450), (DocumentStatus.LOST, 380), (DocumentStatus.REVOKED, 60),
    (DocumentStatus.INVALIDATED, 60), (DocumentStatus.STOLEN_BLANK, 15),
)  # fmt: skip
_NOT_GIVEN_TO_MEN = {("es_ES", "María")}  # Faker lists it among Spanish men's names


class _Generator:
    def __init__(self, profile: CountryProfile, seed: int) -> None:
        self.profile = profile
        self.texts = profile.texts or _EN
        self.seed = seed
        self.rng = random.Random(f"{seed}:{profile.country}")  # countries differ for one seed
        self.today = dt.datetime.now(dt.UTC).date()
        self.yesterday = self.today - dt.timedelta(days=1)
        self.fakers: dict[str, Any] = {}
        self.numbers: set[tuple[str, DocumentType, str]] = set()
        self.national_ids: set[tuple[str, str]] = set()
        self.vins: set[str] = set()
        self.plates: set[tuple[str, str]] = set()
        self.notice = self.rng.randint(1000, 9000)

    # ---- names ------------------------------------------------------------------------------

    def faker(self, locale: str) -> Any:
        fake = self.fakers.get(locale)
        if fake is None:
            fake = Faker(locale)
            fake.seed_instance(f"{self.seed}:{self.profile.country}:{locale}")
            self.fakers[locale] = fake
        return fake

    def _part(self, locale: str, method: str) -> str:
        fake = self.faker(locale)
        for _ in range(20):
            value = str(getattr(fake, method)()).strip()
            # Some Faker lists hold entries that begin with a combining mark; skip them.
            if (
                value
                and not unicodedata.category(value[0]).startswith("M")
                and not (method == "first_name_male" and (locale, value) in _NOT_GIVEN_TO_MEN)
            ):
                return value
        return value

    def name(self, nat: CountryProfile, sex: Sex) -> _Name:
        for _ in range(10):
            name = self._name(nat, sex)
            if nat.romanization is None or (name.latin and all(name.latin)):
                return name
        return name

    def _name(self, nat: CountryProfile, sex: Sex) -> _Name:
        loc = nat.locale
        female = sex is Sex.FEMALE
        suffix = "female" if female else "male"
        if nat.name_style == "japanese":
            fake = self.faker(loc)
            family, family_kana, family_latin = fake.last_name_pair()
            given, given_kana, given_latin = getattr(fake, f"first_name_{suffix}_pair")()
            return _Name(
                str(given),
                str(family),
                reading=(str(family_kana), str(given_kana)),
                latin=(str(given_latin), str(family_latin)),
            )
        given = self._part(loc, f"first_name_{suffix}")
        family = self._part(loc, f"last_name_{suffix}")
        patronymic = None
        if nat.name_style == "slavic" and self.rng.random() < 0.9:
            patronymic = self._part(loc, f"middle_name_{suffix}")
        elif nat.name_style == "spanish":
            family = f"{family} {self._part(loc, f'last_name_{suffix}')}"
        elif nat.locale == "zh_CN" and len(given) == 1 and self.rng.random() < 0.5:
            given += self._part(loc, f"first_name_{suffix}")[0]  # two-character given names
        latin = None
        if nat.romanization is not None:
            latin = (_latin(given, nat.romanization), _latin(family, nat.romanization))
        return _Name(given, family, patronymic, latin=latin)

    @staticmethod
    def _full(style: str, given: str, family: str, patronymic: str | None = None) -> str:
        if style == "family_first":
            return family + given
        if style == "japanese":
            return f"{family} {given}"
        return " ".join(part for part in (given, patronymic, family) if part)

    def name_dicts(self, nat: CountryProfile, name: _Name, kind: NameKind) -> list[dict[str, Any]]:
        """The name in its own script, then its transliterations (kana reading, Latin)."""
        names: list[dict[str, Any]] = [{
            "full": self._full(nat.name_style, name.given, name.family, name.patronymic),
            "given": name.given, "family": name.family, "patronymic": name.patronymic,
            "kind": kind, "language": nat.language,
        }]  # fmt: skip
        transliteration = NameKind.TRANSLITERATION if kind is NameKind.PRIMARY else kind
        if name.reading is not None:
            family_kana, given_kana = name.reading
            names.append(
                {
                    "full": f"{family_kana} {given_kana}",
                    "given": given_kana,
                    "family": family_kana,
                    "kind": transliteration,
                    "language": nat.language,
                }
            )
        if name.latin is not None:
            given, family = name.latin
            eastern = nat.name_style in ("family_first", "japanese")
            full = f"{family} {given}" if eastern else f"{given} {family}"
            names.append(
                {"full": full, "given": given, "family": family, "kind": transliteration, "language": nat.language}
            )
        return names

    # ---- persons ----------------------------------------------------------------------------

    def nationality(self) -> CountryProfile:
        if self.profile.nationalities:
            return _NATIONALITIES[_pick(self.rng, self.profile.nationalities)]
        return self.profile

    def birth_date(self) -> dt.date:
        age_days = int(self.rng.triangular(16, 80, 27) * 365.2425)
        birth = self.today - dt.timedelta(days=age_days)
        oldest = _add_years(self.today, -80) + dt.timedelta(days=1)
        youngest = _add_years(self.today, -16)
        return min(max(birth, oldest), youngest)

    def unique_number(self, issuer: str, kind: DocumentType, pattern: str) -> str:
        for _ in range(1000):
            number = _fill(self.rng, pattern)
            key = (issuer, kind, number)
            if key not in self.numbers:
                self.numbers.add(key)
                return number
        raise RuntimeError(f"no free {kind} number left for {issuer} in pattern {pattern}")

    def document_pattern(self, nat: CountryProfile, kind: DocumentType, issued: dt.date) -> str:
        if kind is DocumentType.IDENTITY_CARD and nat.identity_card:
            if nat.identity_card_since and issued.isoformat() < nat.identity_card_since[0]:
                return nat.identity_card_since[1]
            return nat.identity_card
        return nat.passport

    def issue(self, nat: CountryProfile, kind: DocumentType, birth: dt.date | None) -> _Held:
        """A document of ``kind`` issued to someone born on ``birth``, with its validity."""
        earliest = self.today - dt.timedelta(days=365 * 12)
        if birth is not None:
            earliest = max(earliest, birth + dt.timedelta(days=30))
        issued = _between(self.rng, earliest, self.today - dt.timedelta(days=30))
        identity_card = kind is DocumentType.IDENTITY_CARD
        years = nat.identity_card_years if identity_card else self.rng.choice(nat.passport_years)
        if birth is not None and _add_years(birth, 18) > issued:
            years = 5  # minors' documents are valid for a shorter time
        number = self.unique_number(nat.country, kind, self.document_pattern(nat, kind, issued))
        return _Held(kind, number, issued, _add_years(issued, years))

    def person(self) -> _PersonInfo:
        rng = self.rng
        nat = self.nationality()
        hub = bool(self.profile.nationalities)
        sex = _pick(rng, _SEXES)
        name = self.name(nat, sex)
        names = self.name_dicts(nat, name, NameKind.PRIMARY)
        birth = self.birth_date()
        age = (self.today - birth).days // 365

        if rng.random() < (0.25 if hub else 0.15):
            for _ in range(rng.choice((1, 1, 1, 2))):
                names.extend(self.name_dicts(nat, self.name(nat, sex), NameKind.ALIAS))
        if nat.married_names and sex is Sex.FEMALE and age > 25 and rng.random() < 0.15:
            maiden = self.name(nat, sex)
            maiden.given, maiden.patronymic = name.given, name.patronymic
            if maiden.latin and name.latin:
                maiden.latin = (name.latin[0], maiden.latin[1])
            names.extend(self.name_dicts(nat, maiden, NameKind.BIRTH_NAME)[:1])

        birth_dates = [self.partial_date(birth)]
        if rng.random() < 0.05:
            other = birth + dt.timedelta(days=rng.choice((-1, 1)) * rng.randint(30, 1100))
            birth_dates.append(min(other, self.yesterday).isoformat())

        city = _city(rng, nat.cities)
        birth_place: dict[str, Any] | None = {"place": city.name, "country": nat.country}
        roll = rng.random()
        if roll < 0.08:
            birth_place = None
        elif roll < 0.15:
            birth_place = {"country": nat.country}

        nationalities = [nat.country]
        if nat.dual and rng.random() < 0.08:
            nationalities.append(rng.choice(nat.dual))

        held: list[_Held] = []
        identifiers: list[dict[str, Any]] = []
        if rng.random() < (0.7 if hub else 0.55):
            passport = self.issue(nat, DocumentType.PASSPORT, birth)
            held.append(passport)
            identifiers.append(
                {
                    "kind": IdentifierKind.PASSPORT,
                    "value": passport.number,
                    "country": nat.country,
                    "issued_on": passport.issued_on,
                }
            )
        if nat.identity_card and rng.random() < 0.35:
            card = self.issue(nat, DocumentType.IDENTITY_CARD, birth)
            held.append(card)
            identifiers.append(
                {
                    "kind": IdentifierKind.IDENTITY_CARD,
                    "value": card.number,
                    "country": nat.country,
                    "issued_on": card.issued_on,
                }
            )
        if nat.national_id and rng.random() < 0.5:
            for _ in range(100):
                kind, value = _national_id(nat.national_id, rng, birth, sex, city)
                if (nat.country, value) not in self.national_ids:
                    self.national_ids.add((nat.country, value))
                    identifiers.append({"kind": kind, "value": value, "country": nat.country})
                    break
        if hub and rng.random() < 0.7:
            self.notice += rng.randint(1, 60)
            year = rng.randint(self.today.year - 10, self.today.year)
            identifiers.append(
                {"kind": IdentifierKind.INTERPOL_REFERENCE, "value": f"A-{self.notice}/{rng.randint(1, 12)}-{year}"}
            )

        languages = list(nat.spoken[:1])
        if len(nat.spoken) > 1 and rng.random() < 0.5:
            languages.extend(nat.spoken[1:])
        if "eng" not in languages and rng.random() < 0.3:
            languages.append("eng")

        remarks = None
        if hub and rng.random() < 0.6:
            code = _pick(rng, _CRIMES)
            purpose = rng.choice(("for prosecution", "for prosecution", "to serve a sentence"))
            remarks = f"Wanted {purpose}: {ICCS_DIVISIONS[code]}."
        elif not hub and rng.random() < 0.1:
            remarks = rng.choice(self.texts.remarks)

        person = Person.model_validate({
            "names": names,
            "sex": sex,
            "birth_dates": birth_dates,
            "birth_place": birth_place,
            "nationalities": nationalities,
            "identifiers": identifiers,
            "physical": self.physical(nat, sex, age) if rng.random() < 0.4 else None,
            "languages": languages,
            "remarks": remarks,
        })  # fmt: skip
        return _PersonInfo(new_id(), person, nat, held)

    def partial_date(self, day: dt.date) -> str:
        roll = self.rng.random()
        if roll < 0.85:
            return day.isoformat()
        if roll < 0.95:
            return f"{day:%Y-%m}"
        return str(day.year)

    def physical(self, nat: CountryProfile, sex: Sex, age: int) -> dict[str, Any]:
        rng = self.rng
        male = sex is Sex.MALE
        mean = nat.height[0] if male else nat.height[1]
        height = round(min(max(rng.gauss(mean, 7), mean - 25), mean + 28))
        weight = round(rng.triangular(18.5, 36, 24.5) * (height / 100) ** 2)
        hair = _pick(rng, _HAIR[nat.physique])
        if age >= 55 and rng.random() < 0.55:
            hair = rng.choice((HairColour.GRAY, HairColour.GRAY, HairColour.WHITE))
        elif male and age >= 35 and rng.random() < 0.12:
            hair = HairColour.BALD
        marks: list[dict[str, Any]] = []
        if rng.random() < 0.35:
            for _ in range(rng.choice((1, 1, 2))):
                marks.append(self.mark())
        return {
            "height_cm": height if rng.random() < 0.9 else None,
            "weight_kg": weight if rng.random() < 0.7 else None,
            "eye_colour": _pick(rng, _EYES[nat.physique]) if rng.random() < 0.8 else None,
            "hair_colour": hair if rng.random() < 0.85 else None,
            "marks": marks,
        }

    def mark(self) -> dict[str, Any]:
        rng = self.rng
        texts = self.texts
        kind = _pick(rng, ((MarkKind.TATTOO, 55), (MarkKind.SCAR, 35), (MarkKind.PIERCING, 10)))
        description = None
        if kind is MarkKind.TATTOO:
            description = rng.choice(texts.tattoos)
        elif kind is MarkKind.SCAR:
            description = f"{rng.randint(2, 25)} cm"
        return {"kind": kind, "location": rng.choice(texts.body_parts), "description": description}

    # ---- travel documents -------------------------------------------------------------------

    def documents(self, count: int, persons: list[_PersonInfo]) -> list[TravelDocument]:
        rng = self.rng
        profile = self.profile
        issuer = profile.country
        out: list[TravelDocument] = []
        # A quarter of a country's reports concern documents its generated persons hold.
        held = [(info, doc) for info in persons if info.profile is profile for doc in info.held]
        rng.shuffle(held)
        for info, doc in held[: count // 4]:
            person = info.person
            out.append(self.travel_document(
                doc, _pick(rng, ((DocumentStatus.STOLEN, 50), (DocumentStatus.LOST, 40),
                                 (DocumentStatus.REVOKED, 5), (DocumentStatus.INVALIDATED, 5))),
                holder={
                    "names": [n.model_dump() for n in person.names
                              if n.kind in (NameKind.PRIMARY, NameKind.TRANSLITERATION)],
                    "birth_date": person.birth_dates[0] if person.birth_dates else None,
                    "sex": person.sex,
                    "nationality": issuer,
                },
                holder_person_id=info.id,
            ))  # fmt: skip
        while len(out) < count:
            status = _pick(rng, _FRESH_DOCUMENT_STATUSES)
            kind = _pick(rng, profile.document_types)
            if status is DocumentStatus.STOLEN_BLANK:
                out.extend(self.blank_batch(kind, count - len(out)))
                continue
            nat = self.nationality()
            sex = _pick(rng, _SEXES)
            birth = self.birth_date()
            holder = {
                "names": self.name_dicts(nat, self.name(nat, sex), NameKind.PRIMARY),
                "birth_date": birth.isoformat(),
                "sex": sex,
                "nationality": nat.country,
            }
            doc = self.issue(profile, kind, birth)
            out.append(self.travel_document(doc, status, holder=holder))
        return out

    def travel_document(
        self,
        doc: _Held,
        status: DocumentStatus,
        *,
        holder: dict[str, Any],
        holder_person_id: str | None = None,
    ) -> TravelDocument:
        rng = self.rng
        start = max(doc.issued_on + dt.timedelta(days=1), self.today - dt.timedelta(days=6 * 365))
        end = min(self.yesterday, doc.expires_on - dt.timedelta(days=1))
        if start > end:
            start = doc.issued_on + dt.timedelta(days=1)
        reported = _between(rng, start, end)
        place = None
        if status in (DocumentStatus.STOLEN, DocumentStatus.LOST) and rng.random() < 0.85:
            place = _city(rng, self.profile.cities).name
        return TravelDocument.model_validate({
            "number": doc.number,
            "issuing_country": self.profile.country,
            "document_type": doc.kind,
            "status": status,
            "issued_on": doc.issued_on,
            "expires_on": doc.expires_on,
            "reported_on": reported,
            "place_of_loss": place,
            "holder": holder,
            "holder_person_id": holder_person_id,
        })  # fmt: skip

    def blank_batch(self, kind: DocumentType, room: int) -> list[TravelDocument]:
        """Blank documents are stolen in batches of consecutive numbers (from a printer, a
        consulate or a transport)."""
        rng = self.rng
        issuer = self.profile.country
        size = min(room, rng.choice((1, 2, 3, 5, 8, 12)))
        number = self.unique_number(issuer, kind, self.document_pattern(self.profile, kind, self.today))
        reported = _between(rng, self.today - dt.timedelta(days=6 * 365), self.yesterday)
        place = _city(rng, self.profile.cities).name
        out: list[TravelDocument] = []
        while True:
            out.append(TravelDocument.model_validate({
                "number": number, "issuing_country": issuer, "document_type": kind,
                "status": DocumentStatus.STOLEN_BLANK, "reported_on": reported,
                "place_of_loss": place,
            }))  # fmt: skip
            if len(out) >= size:
                return out
            following = _next_number(number)
            if following is None or (issuer, kind, following) in self.numbers:
                return out
            self.numbers.add((issuer, kind, following))
            number = following

    # ---- vehicles ---------------------------------------------------------------------------

    def vehicles(self, count: int) -> list[Vehicle]:
        sources = [PROFILES[code] for code in self.profile.vehicle_sources] or [self.profile]
        return [self.vehicle(self.rng.choice(sources)) for _ in range(count)]

    def vehicle(self, source: CountryProfile) -> Vehicle:
        rng = self.rng
        make = rng.choices(source.makes, [m.weight for m in source.makes])[0]
        model = rng.choice(make.models)
        current = self.today.year
        year = current - int(rng.triangular(0, 26, 5))
        low = max(1995, model.since)
        high = min(current, model.until or current)
        if not low <= year <= high:
            year = rng.randint(low, high)
        hub = bool(self.profile.vehicle_sources)
        plate_only = 0.3 if source.plate_style == "jpn" else 0.1
        roll = rng.random()
        has_vin = roll >= plate_only
        has_plate = roll < 1 - (0.25 if hub else 0.1)
        city = _city(rng, source.cities)
        remarks = None
        vin = self.vin(rng.choice(model.wmis or make.wmis), year) if has_vin else None
        if not has_vin and source.plate_style == "jpn":
            # Cars made for Japan carry a chassis number (車台番号), not a 17-character VIN.
            frame = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
            remarks = f"車台番号 {frame}{rng.randint(10, 99)}-{_digits(rng, 7)}"
        plate = self.plate(source, city, model, year) if has_plate else None
        status = _pick(rng, ((VehicleStatus.STOLEN, 80), (VehicleStatus.MISAPPROPRIATED, 8),
                             (VehicleStatus.WANTED, 7), (VehicleStatus.RECOVERED, 5)))  # fmt: skip
        earliest = max(dt.date(year - 1, 9, 1), self.today - dt.timedelta(days=8 * 365))
        return Vehicle.model_validate({
            "vin": vin,
            "plate": plate,
            "plate_country": source.country if plate else None,
            "make": make.make,
            "model": model.name,
            "model_year": year,
            "colour": self.texts.colours[_pick(rng, _COLOUR_INDEX)],
            "category": model.category,
            "status": status,
            "stolen_on": _between(rng, min(earliest, self.yesterday), self.yesterday),
            "place_of_theft": city.name if rng.random() < 0.9 else None,
            "remarks": remarks,
        })  # fmt: skip

    def vin(self, wmi: str, year: int) -> str:
        rng = self.rng
        chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        for _ in range(100):
            vds = "".join(rng.choice(chars) for _ in range(5))
            year_code = _VIN_YEARS[(year - 1980) % 30]
            plant = rng.choice("ABCDEFGHJKLMNPRSTVWXY0123456789")
            draft = f"{wmi}{vds}0{year_code}{plant}{rng.randint(0, 999_999):06d}"
            vin = draft[:8] + vin_check_digit(draft) + draft[9:]
            if vin not in self.vins:
                self.vins.add(vin)
                return vin
        raise RuntimeError("no free VIN")

    def plate(self, source: CountryProfile, city: City, model: VehicleModel, year: int) -> str:
        for _ in range(100):
            plate = self._plate(source, city, model, year)
            key = (source.country, "".join(char for char in plate if char.isalnum()))
            if key not in self.plates:
                self.plates.add(key)
                return plate
        raise RuntimeError("no free plate")

    def _plate(self, source: CountryProfile, city: City, model: VehicleModel, year: int) -> str:
        rng = self.rng
        style = source.plate_style
        if style == "fra":
            if year < 2009 and rng.random() < 0.2:  # the old FNI plates, with the department
                letters = "".join(rng.choice(_FRA_PLATE) for _ in range(2))
                return f"{rng.randint(1, 9999)} {letters} {city.codes[0]}"
            left = right = "SS"
            while left in ("SS", "WW") or right == "SS":
                left = "".join(rng.choice(_FRA_PLATE) for _ in range(2))
                right = "".join(rng.choice(_FRA_PLATE) for _ in range(2))
            return f"{left}-{rng.randint(1, 999):03d}-{right}"
        if style == "ukr":
            suffix = "".join(rng.choice("ABEIKMHOPCTX") for _ in range(2))
            return f"{rng.choice(city.codes)}{rng.randint(1, 9999):04d}{suffix}"
        if style == "grc":
            letters = rng.choice(city.codes)
            while len(letters) < 3:
                letters += rng.choice(_GREEK_PLATE)
            if model.category is VehicleCategory.MOTORCYCLE:
                return f"{letters} {rng.randint(1, 999):03d}"
            return f"{letters}-{rng.randint(1000, 9999)}"
        if style == "jpn":
            cls = model.plate_class
            number = cls + _digits(rng, 3 - len(cls))
            serial = rng.randint(1000, 9999)  # below 1000 the plate shows dots (・1-23)
            return f"{rng.choice(city.codes)} {number} {rng.choice(_KANA_PLATE)} {serial // 100}-{serial % 100:02d}"
        raise ValueError(f"{source.country} has no plate format")

    # ---- cases ------------------------------------------------------------------------------

    def cases(self, count: int, persons: list[_PersonInfo]) -> list[SyntheticCase]:
        rng = self.rng
        hub = bool(self.profile.nationalities)
        sequence = rng.randint(100, 5000)
        out: list[SyntheticCase] = []
        labels = dict(self.texts.crimes)
        for _ in range(count):
            sequence += rng.randint(1, 40)
            opened = _between(rng, self.today - dt.timedelta(days=8 * 365), self.yesterday)
            codes = self.crime_codes()
            status = _pick(rng, ((CaseStatus.OPEN, 40), (CaseStatus.UNDER_INVESTIGATION, 40),
                                 (CaseStatus.SUSPENDED, 5), (CaseStatus.CLOSED, 15)) if hub
                           else ((CaseStatus.OPEN, 30), (CaseStatus.UNDER_INVESTIGATION, 35),
                                 (CaseStatus.SUSPENDED, 10), (CaseStatus.CLOSED, 25)))  # fmt: skip
            closed = None
            if status is CaseStatus.CLOSED:
                closed = _between(rng, opened, min(self.yesterday, opened + dt.timedelta(days=3 * 365)))
            links = self.links(persons, hub)
            city = _city(rng, self.profile.cities).name
            crime = labels[codes[0]]
            title = self.texts.title.format(crime=crime[:1].upper() + crime[1:], city=city)
            opening = rng.choice(self.texts.summaries).format(
                crime=crime, city=city, date=self.format_date(opened))  # fmt: skip
            summary = [opening[:1].upper() + opening[1:]]
            if len(codes) > 1:
                others = self.texts.also_joiner.join(labels[code] for code in codes[1:])
                summary.append(self.texts.also.format(crimes=others))
            persons_text = self.texts.persons
            summary.append(persons_text[min(len(links), 2)].format(n=len(links)))
            if codes[0] in _PROPERTY_CRIMES and rng.random() < 0.6:
                step = self.texts.currency_step
                amount = f"{rng.randint(2, 2000) * step:,}".replace(",", self.texts.thousands)
                summary.append(self.texts.loss.format(amount=amount))
            summary.extend(rng.sample(self.texts.follow_ups, rng.randint(0, 2)))
            joiner = "" if self.texts.date_style == "ja" else " "
            text = joiner.join(summary)
            if self.texts.elision:
                text = _ELISION.sub(r"\1'\2", text)
            case = Case.model_validate({
                "reference": self.reference(opened.year, sequence, city),
                "title": title,
                "summary": text,
                "crime_types": codes,
                "status": status,
                "opened_on": opened,
                "closed_on": closed,
                "links": links,
            })  # fmt: skip
            out.append(SyntheticCase(new_id(), case))
        return out

    def crime_codes(self) -> list[str]:
        rng = self.rng
        count = _pick(rng, ((1, 65), (2, 25), (3, 10)))
        codes: list[str] = []
        while len(codes) < count:
            code = _pick(rng, _CRIMES)
            if code not in codes:
                codes.append(code)
        return codes

    def links(self, persons: list[_PersonInfo], hub: bool) -> list[dict[str, Any]]:
        rng = self.rng
        if not persons:
            return []
        count = min(len(persons), _pick(rng, ((1, 40), (2, 30), (3, 20), (4, 10))))
        chosen = rng.sample(persons, count)
        first: Sequence[tuple[LinkRole, int]]
        others: Sequence[tuple[LinkRole, int]]
        if hub:
            first = ((LinkRole.WANTED, 80), (LinkRole.SUSPECT, 20))
            others = ((LinkRole.SUSPECT, 50), (LinkRole.WANTED, 30), (LinkRole.WITNESS, 10),
                      (LinkRole.VICTIM, 10))  # fmt: skip
        else:
            first = ((LinkRole.SUSPECT, 70), (LinkRole.WANTED, 15), (LinkRole.VICTIM, 15))
            others = ((LinkRole.SUSPECT, 35), (LinkRole.VICTIM, 30), (LinkRole.WITNESS, 30),
                      (LinkRole.WANTED, 5))  # fmt: skip
        return [
            {"kind": RecordKind.PERSON, "id": info.id, "role": _pick(rng, first if i == 0 else others)}
            for i, info in enumerate(chosen)
        ]

    def format_date(self, day: dt.date) -> str:
        style = self.texts.date_style
        if style == "dmy.":
            return f"{day:%d.%m.%Y}"
        if style == "ja":
            return f"{day.year}年{day.month}月{day.day}日"
        if style == "en":
            return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
        return f"{day:%d/%m/%Y}"

    def reference(self, year: int, sequence: int, city: str) -> str:
        style = self.profile.case_reference
        rng = self.rng
        if style == "ukr":  # ЄРДР: 1, year, body code, serial
            return f"1{year}{rng.choice(('100100', '110100', '150110', '160000', '220000'))}{sequence:06d}"
        if style == "grc":
            return f"ΕΛ.ΑΣ. {year}/{sequence:06d}"
        if style == "jpn":
            agency = _JPN_POLICE.get(city, "警察庁")
            era = f"平成{year - 1988}" if year < 2019 else "令和" + ("元" if year == 2019 else str(year - 2018))
            return f"{agency}{era}年第{sequence}号"
        if style == "fra":
            return f"{year}/{sequence:06d}"
        return f"{self.profile.country}-{year}-{sequence:06d}"


# The prefectural police that investigates in each city.
_JPN_POLICE = {
    "東京都": "警視庁", "大阪市": "大阪府警察", "横浜市": "神奈川県警察", "川崎市": "神奈川県警察",
    "名古屋市": "愛知県警察", "札幌市": "北海道警察", "福岡市": "福岡県警察", "北九州市": "福岡県警察",
    "神戸市": "兵庫県警察", "京都市": "京都府警察", "さいたま市": "埼玉県警察", "広島市": "広島県警察",
    "仙台市": "宮城県警察", "千葉市": "千葉県警察", "浜松市": "静岡県警察", "静岡市": "静岡県警察",
    "新潟市": "新潟県警察", "熊本市": "熊本県警察", "岡山市": "岡山県警察", "宇都宮市": "栃木県警察",
    "那覇市": "沖縄県警察", "金沢市": "石川県警察", "鹿児島市": "鹿児島県警察",
}  # fmt: skip

# ISO 3779 model year codes, a 30-year cycle starting in 1980.
_VIN_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"
_FRA_PLATE = "ABCDEFGHJKLMNPQRSTVWXYZ"  # SIV plates have no I, O or U
_GREEK_PLATE = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"  # Greek plates use the letters that look Latin
_KANA_PLATE = "あいうえかきくけこをさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるろ"


def _next_number(number: str) -> str | None:
    """The next number of a batch: the trailing digits plus one, or None when they run out."""
    head = number.rstrip(_DIGITS)
    tail = number[len(head) :]
    if len(tail) < 3 or set(tail) == {"9"}:
        return None
    return f"{head}{int(tail) + 1:0{len(tail)}d}"


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def generate(country: str, *, seed: int, persons: int, documents: int, vehicles: int, cases: int) -> SyntheticData:
    """Synthetic records of one country (or the hub, ``XPO``), deterministic for ``seed``
    apart from the record ids."""
    profile = PROFILES.get(country.upper())
    if profile is None:
        raise ValueError(f"no synthetic data profile for {country!r}; known: {', '.join(PROFILES)}")
    for label, count in (("persons", persons), ("documents", documents), ("vehicles", vehicles),
                         ("cases", cases)):  # fmt: skip
        if count < 0:
            raise ValueError(f"{label} must not be negative")
    generator = _Generator(profile, seed)
    people = [generator.person() for _ in range(persons)]
    return SyntheticData(
        country=profile.country,
        persons=[SyntheticPerson(info.id, info.person) for info in people],
        documents=generator.documents(documents, people),
        vehicles=generator.vehicles(vehicles),
        cases=generator.cases(cases, people),
    )
