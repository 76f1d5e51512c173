from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from importlib.metadata import EntryPoint

import pytest

from polex.domain.document import DocumentStatus, DocumentType, TravelDocument
from polex.errors import NotFound
from polex.formats import registry as registry_module
from polex.formats.mrz import MrzAdapter, check_digit
from polex.formats.registry import (
    ENTRY_POINT_GROUP,
    Accepted,
    FormatAdapter,
    FormatRegistry,
    Rejection,
    UnknownFormat,
    WritableFormatAdapter,
    available_formats,
    get_format,
)
from tests.unit.formats.plugin_example import NumbersAdapter

TODAY = dt.date(2025, 6, 1)
PLUGINS = "tests.unit.formats.plugin_example"


def _td3(surname: str, number: str, birth: str = "650310") -> list[str]:
    line1 = f"P<NLD{surname}<<WILLEKE".ljust(44, "<")
    line2 = f"{number}{check_digit(number)}NLD{birth}{check_digit(birth)}F240309{check_digit('240309')}"
    line2 += "<" * 15
    line2 += str(check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    return [line1, line2]


GOOD = _td3("DE<BRUIJN", "SPECI2014")
OTHER = _td3("JANSEN", "NX12345AB")
WRONG_DIGIT = str((check_digit("650310") + 1) % 10)
BAD_BIRTH_CHECK = [GOOD[0], GOOD[1][:19] + WRONG_DIGIT + GOOD[1][20:]]


def _stream(*blocks: Iterable[str]) -> io.BytesIO:
    text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
    return io.BytesIO(text.encode())


def _plugins(monkeypatch: pytest.MonkeyPatch, *points: tuple[str, str]) -> None:
    found = [EntryPoint(name=name, value=f"{PLUGINS}:{target}", group=ENTRY_POINT_GROUP) for name, target in points]

    def entry_points(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return found

    monkeypatch.setattr(registry_module, "entry_points", entry_points)


def test_the_icao_mrz_format_is_built_in() -> None:
    [info] = [info for info in available_formats() if info.name == "icao-mrz"]
    assert info.source == "built-in"
    assert info.writable
    assert "text/plain" in info.media_types
    assert "ICAO Doc 9303" in info.description
    adapter = get_format("icao-mrz")
    assert isinstance(adapter, FormatAdapter)
    assert isinstance(adapter, WritableFormatAdapter)


def test_reading_mrz_blocks_yields_records_and_rejections_naming_the_field() -> None:
    adapter = get_format("icao-mrz", today=TODAY)
    results = list(adapter.read(_stream(GOOD, BAD_BIRTH_CHECK, ["not an mrz"], OTHER)))
    assert [type(result) for result in results] == [Accepted, Rejection, Rejection, Accepted]
    first, bad, garbage, last = results

    assert isinstance(first, Accepted)
    assert isinstance(first.record, TravelDocument)
    assert first.record.number == "SPECI2014"
    assert first.record.document_type is DocumentType.PASSPORT
    assert first.record.status is DocumentStatus.STOLEN
    assert (first.raw, first.location) == ("\n".join(GOOD), "lines 1-2")

    assert isinstance(bad, Rejection)
    assert bad.field == "birth_date"
    assert bad.reason == f"check digit {WRONG_DIGIT} does not match the computed {check_digit('650310')}"
    assert bad.raw == "\n".join(BAD_BIRTH_CHECK)  # kept exactly as received
    assert bad.location == "lines 4-5"
    assert [error.field for error in bad.errors] == ["birth_date", "composite"]

    assert isinstance(garbage, Rejection)
    assert (garbage.field, garbage.raw, garbage.location) == ("lines", "not an mrz", "line 7")

    assert isinstance(last, Accepted)
    assert last.location == "lines 9-10"


def test_the_mrz_status_is_an_option() -> None:
    adapter = get_format("icao-mrz", status=DocumentStatus.LOST, today=TODAY)
    [result] = adapter.read(_stream(GOOD))
    assert isinstance(result, Accepted)
    assert isinstance(result.record, TravelDocument)
    assert result.record.status is DocumentStatus.LOST


def test_written_mrz_blocks_read_back() -> None:
    adapter = MrzAdapter(today=TODAY)
    records = [result.record for result in adapter.read(_stream(GOOD, OTHER)) if isinstance(result, Accepted)]
    out = io.BytesIO()
    adapter.write(records, out)
    assert out.getvalue().decode() == "\n".join(GOOD) + "\n\n" + "\n".join(OTHER) + "\n"
    again = [result.record for result in adapter.read(io.BytesIO(out.getvalue())) if isinstance(result, Accepted)]
    assert again == records
    with pytest.raises(TypeError, match="travel documents"):
        adapter.write([NumbersAdapter], out)  # type: ignore[list-item]


def test_an_unknown_format_is_not_found() -> None:
    with pytest.raises(UnknownFormat, match="icao-mrz") as caught:
        get_format("no-such-format")
    assert isinstance(caught.value, NotFound)


def test_plugins_are_found_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugins(
        monkeypatch,
        ("example-numbers", "NumbersAdapter"),
        ("clash", "ClashingAdapter"),
        ("broken", "broken_factory"),
        ("missing", "NoSuchThing"),
        ("junk", "NOT_AN_ADAPTER"),
    )
    registry = FormatRegistry()
    names = {info.name: info for info in registry.formats()}
    assert set(names) == {"icao-mrz", "csv-mapping", "ansi-nist-itl", "stix2.1", "ftm", "niem-xml", "example-numbers"}
    assert names["example-numbers"].source == f"entry point example-numbers = {PLUGINS}:NumbersAdapter"
    assert not names["example-numbers"].writable
    assert names["icao-mrz"].source == "built-in"  # a plugin cannot take a built-in's name
    failures = {failure.split(" = ")[0].removeprefix("entry point "): failure for failure in registry.failures}
    assert set(failures) == {"clash", "broken", "missing", "junk"}
    assert "already provided by built-in" in failures["clash"]
    assert "this plugin cannot start" in failures["broken"]
    assert "AttributeError" in failures["missing"]
    assert "neither a format adapter" in failures["junk"]

    adapter = registry.get("example-numbers", country="BEL")
    results = list(adapter.read(io.BytesIO(b"AB123\nbad number!\n")))
    assert isinstance(results[0], Accepted)
    assert isinstance(results[0].record, TravelDocument)
    assert results[0].record.issuing_country == "BEL"
    assert isinstance(results[1], Rejection)
    assert (results[1].field, results[1].raw, results[1].location) == ("number", "bad number!", "line 2")


def test_adapters_registered_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugins(monkeypatch)
    registry = FormatRegistry()
    info = registry.register(NumbersAdapter(country="FRA"))
    assert (info.name, info.source) == ("example-numbers", "registered")
    assert registry.get("example-numbers").read is not None
    with pytest.raises(TypeError, match="ready-made adapter"):
        registry.get("example-numbers", country="BEL")
    with pytest.raises(ValueError, match="already provided by registered"):
        registry.register(NumbersAdapter)
    assert registry.register(NumbersAdapter, replace=True).source == "registered"
    with pytest.raises(ValueError, match="already provided by built-in"):
        registry.register(MrzAdapter, replace=True)
    with pytest.raises(TypeError, match="not a format adapter"):
        registry.register(lambda: "nothing")


def test_a_registry_can_start_empty() -> None:
    registry = FormatRegistry(builtins=False, entry_point_group=None)
    assert registry.formats() == []
    with pytest.raises(UnknownFormat, match="none"):
        registry.get("icao-mrz")
