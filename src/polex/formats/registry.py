"""The formats this node reads and writes: built in, or shipped by others as plugins.

An adapter turns a stream in one outside format into polex records, one
:data:`ReadResult` per item: :class:`Accepted` with the record, or :class:`Rejection` naming
the field at fault and why. Both keep the raw input, so nothing sent is lost and a rejection
can be shown to the sender as it was received. Adapters that can also write offer ``write``.

An adapter whose input falls into independent items (the rows of a CSV file) may also offer
``split`` (:class:`SplitFormatAdapter`): the cheap part of reading (finding the items) stays
with the caller, the expensive part (mapping and validating each item) is a picklable
:class:`ItemConverter` that an import runs in worker processes, several batches at once.

An adapter reads records by default. One that reads notice requests instead (INTERPOL's
public notices) says so with ``reads_into = "notice_requests"``: an import of its items
creates notice drafts through the notice lifecycle, not records.

A country ships its own adapter as a separate package by declaring an entry point in the
``polex.formats`` group that names an adapter class (or a factory, or an instance)::

    [project.entry-points."polex.formats"]
    xyz-national-sltd = "xyz_polex.sltd:NationalSltdAdapter"

Built-in adapters are registered in code and cannot be replaced by a plugin; a plugin that
fails to load or clashes with another format is left out and listed in ``failures``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import IO, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from polex.domain.base import Provenance
from polex.errors import FieldError, NotFound

ENTRY_POINT_GROUP = "polex.formats"
RECORDS = "records"
NOTICE_REQUESTS = "notice_requests"

log = logging.getLogger("polex.formats")


@dataclass(frozen=True)
class Accepted:
    """An item read into a record; ``location`` says where in the input it was (``lines 4-6``)."""

    record: BaseModel
    raw: str
    location: str
    provenance: Provenance | None = None  # where the adapter knows more than its format name
    # ``record.model_dump_json()``, where the adapter made it already (to compare the values
    # normalised with those received): an import stores it rather than serialising again.
    content_json: str | None = None


@dataclass(frozen=True)
class Rejection:
    """An item that could not be read: the first field at fault and why, every field error
    found, and the item as received."""

    field: str
    reason: str
    raw: str
    location: str
    errors: tuple[FieldError, ...] = ()


ReadResult = Accepted | Rejection


@runtime_checkable
class FormatAdapter(Protocol):
    """Reads one outside format. ``name`` is the format's identifier (``icao-mrz``). An
    optional ``reads_into`` says what its items are (:func:`reads_into`)."""

    name: str
    description: str
    media_types: tuple[str, ...]

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]: ...


@runtime_checkable
class WritableFormatAdapter(FormatAdapter, Protocol):
    """An adapter that can also write records in its format."""

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None: ...


class ItemConverter(Protocol):
    """Turns the raw items a split read finds into read results, in their order. Picklable
    (module-level class, plain data): an import sends it to its worker processes once. An
    item that is a :data:`ReadResult` already (a row refused before conversion) is passed
    through as it is."""

    def convert(self, items: Sequence[object]) -> list[ReadResult]: ...


@dataclass(frozen=True)
class SplitRead:
    """An input split into its raw items (read lazily, in order, by the caller) and the
    converter that makes them read results. Closing ``items`` (a generator) releases the input."""

    converter: ItemConverter
    items: Iterator[object]


@runtime_checkable
class SplitFormatAdapter(FormatAdapter, Protocol):
    """An adapter whose items can be converted apart from reading the input: ``read(stream)``
    gives what converting ``split(stream)``'s items one after the other gives."""

    def split(self, stream: IO[bytes]) -> SplitRead: ...


def reads_into(adapter: object) -> str:
    """What an adapter reads its items into: :data:`RECORDS` (the default) or
    :data:`NOTICE_REQUESTS`, from its optional ``reads_into`` attribute."""
    declared = getattr(adapter, "reads_into", RECORDS)
    return NOTICE_REQUESTS if declared == NOTICE_REQUESTS else RECORDS


AdapterFactory = Callable[..., FormatAdapter]
"""Makes an adapter; keyword options configure it, and it must work without any."""


@dataclass(frozen=True)
class FormatInfo:
    name: str
    description: str
    media_types: tuple[str, ...]
    writable: bool
    source: str  # "built-in", "entry point NAME = VALUE", or "registered"
    reads_into: str = RECORDS  # or NOTICE_REQUESTS: an import creates notice drafts


class UnknownFormat(NotFound):
    title = "Unknown format"
    slug = "unknown-format"


@dataclass(frozen=True)
class _Entry:
    factory: AdapterFactory
    info: FormatInfo


def _builtin_factories() -> list[AdapterFactory]:
    # Imported here: the adapters import this module.
    from polex.formats.ansi_nist import AnsiNistAdapter
    from polex.formats.csv_mapping import CsvMappingAdapter
    from polex.formats.ftm import FtmAdapter
    from polex.formats.mrz import MrzAdapter
    from polex.formats.niem import NiemAdapter
    from polex.formats.stix import StixAdapter

    return [AnsiNistAdapter, CsvMappingAdapter, FtmAdapter, MrzAdapter, NiemAdapter, StixAdapter]


def _as_factory(obj: object) -> AdapterFactory:
    """A factory from what an entry point or a caller gives: a class, a factory, or an adapter."""
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, FormatAdapter)):
        return obj  # what it makes is checked when it is called
    if isinstance(obj, FormatAdapter):
        instance = obj

        def factory(**options: Any) -> FormatAdapter:
            if options:
                raise TypeError(f"format {instance.name!r} is a ready-made adapter and takes no options")
            return instance

        return factory
    raise TypeError(f"{obj!r} is neither a format adapter nor something that makes one")


def _make(factory: AdapterFactory, **options: Any) -> FormatAdapter:
    adapter = factory(**options)
    if not isinstance(adapter, FormatAdapter):
        raise TypeError(f"{factory!r} made {adapter!r}, which is not a format adapter (name, description, read)")
    return adapter


class FormatRegistry:
    """The formats known to one process: built-ins, then plugins found through entry points."""

    def __init__(self, *, builtins: bool = True, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._entries: dict[str, _Entry] = {}
        self._group = entry_point_group
        self._plugins_loaded = entry_point_group is None
        self.failures: list[str] = []
        if builtins:
            for factory in _builtin_factories():
                self.register(factory, source="built-in")

    def register(self, adapter: object, *, source: str = "registered", replace: bool = False) -> FormatInfo:
        """Add a format from an adapter class, a factory or an adapter instance."""
        factory = _as_factory(adapter)
        instance = _make(factory)
        name = instance.name
        existing = self._entries.get(name)
        if existing is not None and (not replace or existing.info.source == "built-in"):
            raise ValueError(f"format {name!r} is already provided by {existing.info.source}")
        info = FormatInfo(
            name=name,
            description=instance.description,
            media_types=tuple(instance.media_types),
            writable=isinstance(instance, WritableFormatAdapter),
            source=source,
            reads_into=reads_into(instance),
        )
        self._entries[name] = _Entry(factory, info)
        return info

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self._group is None:
            return
        self._plugins_loaded = True
        for point in entry_points(group=self._group):
            source = f"entry point {point.name} = {point.value}"
            try:
                self.register(point.load(), source=source)
            except Exception as error:  # a broken plugin must not take the other formats down
                failure = f"{source}: {type(error).__name__}: {error}"
                self.failures.append(failure)
                log.warning("format plugin left out: %s", failure)

    def formats(self) -> list[FormatInfo]:
        self._load_plugins()
        return sorted((entry.info for entry in self._entries.values()), key=lambda info: info.name)

    def get(self, name: str, **options: Any) -> FormatAdapter:
        """An adapter for format ``name``, configured with ``options``."""
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownFormat(f"no format is called {name!r}; the known formats are: {known}")
        return _make(entry.factory, **options)


@lru_cache(maxsize=1)
def default_registry() -> FormatRegistry:
    """The process's registry, made on first use."""
    return FormatRegistry()


def available_formats() -> list[FormatInfo]:
    """Every format this process can read, built in or from plugins, by name."""
    return default_registry().formats()


def get_format(name: str, **options: Any) -> FormatAdapter:
    return default_registry().get(name, **options)


def register_format(adapter: object, *, replace: bool = False) -> FormatInfo:
    return default_registry().register(adapter, replace=replace)
