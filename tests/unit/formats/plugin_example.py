"""Adapters as a country's own package would ship them, for the registry tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from polex.domain.document import DocumentStatus, TravelDocument
from polex.formats.registry import Accepted, ReadResult, Rejection


class NumbersAdapter:
    """One stolen passport number per line, all issued by one country."""

    name = "example-numbers"
    description = "Stolen passport numbers, one a line"
    media_types: tuple[str, ...] = ("text/plain",)

    def __init__(self, *, country: str = "NLD") -> None:
        self.country = country

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        for number, line in enumerate(stream.read().decode().splitlines(), 1):
            raw = line.strip()
            if raw.isalnum():
                document = TravelDocument(number=raw, issuing_country=self.country, status=DocumentStatus.STOLEN)
                yield Accepted(document, raw=line, location=f"line {number}")
            else:
                yield Rejection("number", "letters and digits only", raw=line, location=f"line {number}")


class ClashingAdapter(NumbersAdapter):
    name = "icao-mrz"


def broken_factory() -> NumbersAdapter:
    raise RuntimeError("this plugin cannot start")


NOT_AN_ADAPTER = object()
