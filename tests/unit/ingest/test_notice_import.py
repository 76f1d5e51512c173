"""What an import needs to know of notice requests, without a database: which adapters read
them, and what makes two requests of one agency the same."""

from __future__ import annotations

import json
from pathlib import Path

from polex.domain.notice import NoticeRequest
from polex.formats.interpol_notices import InterpolNoticesAdapter, read_interpol_notices
from polex.formats.mrz import MrzAdapter
from polex.formats.registry import NOTICE_REQUESTS, RECORDS, Accepted, FormatRegistry, reads_into
from polex.ingest.service import _notice_keys, _stored_form

FIXTURES = Path(__file__).parents[2] / "fixtures" / "interpol"


def _content(document: object) -> dict[str, object]:
    (result,) = read_interpol_notices(json.dumps(document))
    assert isinstance(result, Accepted)
    assert isinstance(result.record, NoticeRequest)
    return _stored_form(result.record)


def test_an_adapter_says_whether_it_reads_notice_requests() -> None:
    assert reads_into(InterpolNoticesAdapter()) == NOTICE_REQUESTS
    assert reads_into(MrzAdapter()) == RECORDS
    assert reads_into(object()) == RECORDS  # undeclared: records
    registry = FormatRegistry(entry_point_group=None)
    registry.register(InterpolNoticesAdapter)
    info = {item.name: item for item in registry.formats()}
    assert (info["interpol-notices"].reads_into, info["icao-mrz"].reads_into) == (NOTICE_REQUESTS, RECORDS)


def test_the_same_interpol_reference_or_content_is_the_same_request() -> None:
    detail = json.loads((FIXTURES / "red-2023-54608.json").read_text())
    listed = json.loads((FIXTURES / "red-list.json").read_text())["_embedded"]["notices"][0]
    from_detail, from_list = _notice_keys(_content(detail)), _notice_keys(_content(listed))
    shared = set(from_detail) & set(from_list)
    assert [from_detail[key] for key in shared] == ["INTERPOL reference 2023/54608"]  # not the same content
    assert _notice_keys(_content(detail)) == from_detail  # the content key is stable
    yellow = {**detail, "_links": {"self": {"href": "https://ws-public.interpol.int/notices/v1/yellow/2023-54608"}}}
    assert not set(_notice_keys(_content(yellow))) & set(from_detail)  # another type, another request
    anonymous = {key: value for key, value in detail.items() if key not in ("entity_id", "_links")}
    assert list(_notice_keys(_content(anonymous)).values()) == ["the same content"]
