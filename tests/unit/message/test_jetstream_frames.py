"""Frames on the JetStream transport are cut to a size every JWS reader takes: a hub that
reports a thousand deliveries at once (as after a restart) sends several frames, each of
which its sender can read back."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey

from polex.message.jetstream import FRAME_ITEMS_BYTES, _parts


def _report(index: int) -> dict[str, object]:
    receipt = "eyJhbGciOiJFUzI1NiJ9." + "x" * 400 + "." + "y" * 86  # the size of a real receipt
    return {"message_id": f"{index:036d}", "recipient": "deu", "status": "delivered", "receipt": receipt}


def test_a_thousand_reports_go_in_frames_a_jws_reader_accepts() -> None:
    reports = [_report(index) for index in range(1000)]
    parts = _parts(reports)
    assert len(parts) > 1
    assert [item for part in parts for item in part] == reports  # all, in order
    key = ECKey.generate_key("P-256")
    for part in parts:
        payload = orjson.dumps({"items": part})
        token = jws.serialize_compact({"alg": "ES256"}, payload, key, algorithms=["ES256"])
        assert jws.deserialize_compact(token, key, algorithms=["ES256"]).payload == payload


@given(st.lists(st.text(max_size=3000), max_size=200))
def test_parts_keep_every_item_in_order_within_the_size(items: list[str]) -> None:
    parts = _parts(list(items))
    assert [item for part in parts for item in part] == items
    for part in parts:
        if len(part) > 1:
            assert sum(len(orjson.dumps(item)) + 1 for item in part) <= FRAME_ITEMS_BYTES
