"""Segment-spec JSON-lines events: mapping, duplicates, gzip, rejected lines."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from nexus_pipelines.lib.formats import SOURCES, ParseContext, ParsedRow, Rejected, UnreadableFile

UTC = dt.UTC
COLUMNS = SOURCES["events"].column_names

TRACK = {
    "messageId": "m-1",
    "type": "track",
    "event": "Order Completed",
    "userId": None,
    "anonymousId": "anon-1",
    "timestamp": "2026-11-01T13:45:10.250Z",
    "receivedAt": "2026-11-01T13:45:11+00:00",
    "sentAt": "2026-11-01T15:45:10.500+02:00",
    "context": {"ip": "203.0.113.5", "campaign": {"source": "google", "medium": "cpc"}},
    "properties": {"order_id": "o-1", "revenue": 39.98, "currency": "USD", "products": [{"sku": "MUG-01"}]},
    "integrations": {"All": True},
    "version": 2,
}
PAGE = {
    "messageId": "m-2",
    "type": "page",
    "name": "Product",
    "userId": "u-1",
    "timestamp": "2026-11-01T13:46:00Z",
    "properties": {"path": "/p/mug"},
}
IDENTIFY = {
    "messageId": "m-3",
    "type": "identify",
    "userId": "u-1",
    "anonymousId": "anon-1",
    "timestamp": "2026-11-01T13:47:00Z",
    "traits": {"email": "a@example.com"},
}
SCREEN = {"messageId": "m-4", "type": "screen", "name": "Home", "userId": 42, "timestamp": "2026-11-01"}


def landed(
    tmp_path: Path, name: str, lines: list[str], *, compress: bool = False, newline: str = "\n"
) -> ParseContext:
    path = tmp_path / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + newline for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return ParseContext(path, f"events/{name}", dt.date(2026, 11, 1))


def parse(ctx: ParseContext) -> list:
    return list(SOURCES["events"].parser(ctx))


def values(row: ParsedRow) -> dict:
    assert isinstance(row, ParsedRow), row
    assert len(row.values) == len(COLUMNS)
    return dict(zip(COLUMNS, row.values))


def test_track_page_identify_and_other_types_are_mapped(tmp_path):
    lines = [json.dumps(event) for event in (TRACK, PAGE, IDENTIFY, SCREEN)]
    ctx = landed(tmp_path, "2026-11-01.jsonl", lines)

    track, page, identify, screen = (values(r) for r in parse(ctx))

    assert track == {
        "message_id": "m-1",
        "event_type": "track",
        "event_name": "Order Completed",
        "page_name": None,
        "user_id": None,
        "anonymous_id": "anon-1",
        "event_timestamp": dt.datetime(2026, 11, 1, 13, 45, 10, 250000, tzinfo=UTC),
        "received_at": dt.datetime(2026, 11, 1, 13, 45, 11, tzinfo=UTC),
        "sent_at": dt.datetime(2026, 11, 1, 13, 45, 10, 500000, tzinfo=UTC),
        "context": TRACK["context"],
        "properties": TRACK["properties"],
        "traits": None,
        "extra_fields": {"integrations": {"All": True}, "version": 2},
        "timestamp_source": "timestamp",
    }
    assert track["sent_at"].utcoffset() == dt.timedelta(hours=2)
    assert (page["event_type"], page["page_name"], page["event_name"]) == ("page", "Product", None)
    assert page["user_id"] == "u-1" and page["anonymous_id"] is None
    assert page["extra_fields"] is None
    assert identify["traits"] == {"email": "a@example.com"}
    assert identify["properties"] is None
    assert (screen["event_type"], screen["page_name"]) == ("screen", "Home")
    assert screen["user_id"] == "42"  # numeric ids are kept as text
    assert screen["event_timestamp"] == dt.datetime(2026, 11, 1, tzinfo=UTC)


def test_duplicate_message_ids_are_all_returned(tmp_path):
    resend = {**TRACK, "receivedAt": "2026-11-01T14:00:00Z"}
    ctx = landed(tmp_path, "2026-11-01.jsonl", [json.dumps(TRACK), json.dumps(resend)])

    first, second = (values(r) for r in parse(ctx))

    assert first["message_id"] == second["message_id"] == "m-1"
    assert second["received_at"] == dt.datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def test_gzip_file_with_crlf_and_bom(tmp_path):
    lines = ["\ufeff" + json.dumps(TRACK), json.dumps(PAGE)]
    ctx = landed(tmp_path, "2026-11-01.jsonl.gz", lines, compress=True, newline="\r\n")

    results = parse(ctx)

    assert [values(r)["message_id"] for r in results] == ["m-1", "m-2"]
    assert [r.line for r in results] == [1, 2]


def test_bad_lines_are_rejected_with_line_numbers(tmp_path):
    lines = [
        json.dumps(TRACK),  # 1
        "{not json",  # 2
        "",  # 3 blank: skipped
        json.dumps([1, 2]),  # 4
        json.dumps({k: v for k, v in PAGE.items() if k != "messageId"}),  # 5
        json.dumps({**PAGE, "timestamp": "yesterday"}),  # 6
        json.dumps({**PAGE, "userId": None}),  # 7: no anonymousId either
        json.dumps({**PAGE, "properties": ["a"]}),  # 8
        json.dumps({**PAGE, "type": ""}),  # 9
        json.dumps({k: v for k, v in PAGE.items() if k != "timestamp"}),  # 10
        json.dumps({**PAGE, "sentAt": 1700000000}),  # 11
        json.dumps({**PAGE, "properties": {"note": "a\x00b"}}),  # 12: \u0000 escape
        json.dumps({**PAGE, "name": "\ud800"}),  # 13: lone surrogate escape
        "   ",  # 14 blank
        json.dumps(PAGE),  # 15
    ]
    ctx = landed(tmp_path, "2026-11-01.jsonl", lines)

    results = parse(ctx)

    assert [(type(r).__name__, r.line) for r in results] == [
        ("ParsedRow", 1),
        *[("Rejected", n) for n in (2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)],
        ("ParsedRow", 15),
    ]
    reasons = {r.line: r.reason for r in results if isinstance(r, Rejected)}
    assert reasons[2].startswith("not valid JSON")
    assert reasons[4] == "expected a JSON object, got list"
    assert reasons[5] == "messageId: missing"
    assert reasons[6] == "timestamp: 'yesterday' is not an ISO-8601 timestamp"
    assert reasons[7] == "neither userId nor anonymousId is set"
    assert reasons[8] == "properties: expected an object, got list"
    assert reasons[9] == "type: missing"
    assert reasons[10] == (
        "timestamp: missing, and neither originalTimestamp nor receivedAt is set to take it from"
    )
    assert reasons[11] == "sentAt: 1700000000 is not an ISO-8601 timestamp"
    assert "NUL character" in reasons[12]
    assert "surrogate" in reasons[13]
    rejected = {r.line: r.raw for r in results if isinstance(r, Rejected)}
    assert rejected[2] == "{not json"


def test_invalid_utf8_line_is_rejected_not_fatal(tmp_path):
    path = tmp_path / "events" / "2026-11-01.jsonl"
    path.parent.mkdir(parents=True)
    surrogate = json.dumps({**PAGE, "name": "X"}).encode().replace(b"X", b"\xed\xa0\x80")
    latin1 = b'{"messageId": "caf\xe9"}'
    path.write_bytes(b"\n".join([json.dumps(PAGE).encode(), latin1, surrogate]))
    ctx = ParseContext(path, "events/2026-11-01.jsonl", dt.date(2026, 11, 1))

    good, latin1, encoded_surrogate = parse(ctx)

    assert isinstance(good, ParsedRow)
    assert isinstance(latin1, Rejected) and latin1.line == 2
    # line 2 starts after line 1 and its newline; 0xE9 is its 19th byte ('{"messageId": "caf' is 18)
    at = len(json.dumps(PAGE)) + 1 + 18
    assert latin1.reason == f"invalid UTF-8 at byte {at} (byte 18 of the line)"
    assert latin1.raw == '{"messageId": "caf\\xe9"}'
    assert isinstance(encoded_surrogate, Rejected) and encoded_surrogate.line == 3
    assert "surrogate" in encoded_surrogate.reason


def test_truncated_gzip_is_unreadable(tmp_path):
    lines = [json.dumps({**PAGE, "messageId": f"m-{i}"}) for i in range(2000)]
    ctx = landed(tmp_path, "2026-11-01.jsonl.gz", lines, compress=True)
    ctx.path.write_bytes(ctx.path.read_bytes()[:-200])

    with pytest.raises(UnreadableFile, match="damaged gzip data") as info:
        parse(ctx)
    assert info.value.line is not None and info.value.line > 1


def test_numeric_names_and_ids_are_text_and_other_types_name_their_field(tmp_path):
    base = {"messageId": "m-9", "type": "track", "timestamp": "2026-11-01T00:00:00Z"}
    good = [
        {**base, "event": 7, "anonymousId": 5},
        {**base, "type": "page", "name": 3, "userId": 11},
    ]
    bad = [
        ({**base, "messageId": 12, "userId": "u"}, "messageId: expected a string, got int"),
        ({**base, "type": ["track"], "userId": "u"}, "type: expected a string, got list"),
        ({**base, "event": 1.5, "userId": "u"}, "event: expected a string, got float"),
        ({**base, "name": True, "userId": "u"}, "name: expected a string, got bool"),
        ({**base, "userId": {"id": 1}}, "userId: expected a string, got dict"),
        ({**base, "anonymousId": [1]}, "anonymousId: expected a string, got list"),
        ({**base, "userId": "u", "context": "web"}, "context: expected an object, got str"),
        ({**base, "userId": "u", "traits": 3}, "traits: expected an object, got int"),
    ]
    ctx = landed(
        tmp_path, "2026-11-01.jsonl", [json.dumps(e) for e in good] + [json.dumps(e) for e, _ in bad]
    )
    results = parse(ctx)
    track, page = (values(r) for r in results[:2])
    assert (track["event_name"], track["anonymous_id"], track["user_id"]) == ("7", "5", None)
    assert (page["page_name"], page["user_id"], page["anonymous_id"]) == ("3", "11", None)
    assert [r.reason for r in results[2:]] == [reason for _, reason in bad]


# --- when the event happened: `timestamp`, else derived from the device's and collector's clocks -

# Segment's complete track example (segment-docs, src/connections/spec/track.md): Segment's
# server computed `timestamp` from the three others: 19:11:01.266 - (01.169 - 01.152) = 01.249.
SEGMENT_TRACK = """{
  "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
  "context": {
    "library": {"name": "analytics.js", "version": "2.11.1"},
    "page": {"path": "/academy/", "referrer": "", "search": "", "title": "Analytics Academy",
             "url": "https://segment.com/academy/"},
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2490.86 Safari/537.36",
    "ip": "108.0.78.21"
  },
  "event": "Course Clicked",
  "integrations": {},
  "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
  "properties": {"title": "Intro to Analytics"},
  "receivedAt": "2015-12-12T19:11:01.266Z",
  "sentAt": "2015-12-12T19:11:01.169Z",
  "timestamp": "2015-12-12T19:11:01.249Z",
  "type": "track",
  "userId": "AiUGstSDIg",
  "originalTimestamp": "2015-12-12T19:11:01.152Z"
}"""

# A RudderStack JavaScript SDK track as RudderStack's server hands it on (rudderlabs/rudder-transformer
# test data): no `timestamp`; receivedAt in +05:30 is 20:02:19.369 UTC, so the event happened at
# 20:02:19.369 - (19.352 - 19.347) = 20:02:19.364 UTC.
RUDDERSTACK_TRACK = """{
  "type": "track",
  "event": "Product Added",
  "sentAt": "2022-08-07T20:02:19.352Z",
  "userId": "userSampleX138",
  "channel": "web",
  "context": {
    "os": {"name": "", "version": ""},
    "locale": "en-IN",
    "screen": {"width": 1440, "height": 900, "density": 2, "innerWidth": 584, "innerHeight": 789},
    "traits": {"email": "userSampleX120@gmail.com", "last_name": "Stack", "first_name": "Rudder"},
    "campaign": {},
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0.0.0 Safari/537.36"
  },
  "rudderId": "4a47e99b-2afc-45c6-b902-ed69282ca805",
  "messageId": "1659902539347900-c622426c-a1dd-44c0-ac6d-d4dbee3f4a93",
  "properties": {"checkout_id": "12345", "product_url": "http://www.yourdomain.com/products/red-t-shirt",
                 "product_name": "Red T-shirt"},
  "anonymousId": "5f093403-1457-4a2c-b4e4-c61ec3bacf56",
  "integrations": {"All": true},
  "originalTimestamp": "2022-08-07T20:02:19.347Z",
  "receivedAt": "2022-08-08T01:32:19.369+05:30"
}"""


def parsed_on(tmp_path: Path, day: dt.date, *events: dict) -> list:
    path = tmp_path / "events" / f"{day.isoformat()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return parse(ParseContext(path, f"events/{path.name}", day))


def test_a_segment_track_with_timestamp_uses_it(tmp_path):
    (row,) = parsed_on(tmp_path, dt.date(2015, 12, 12), json.loads(SEGMENT_TRACK))

    track = values(row)
    assert track["event_timestamp"] == dt.datetime(2015, 12, 12, 19, 11, 1, 249000, tzinfo=UTC)
    assert track["timestamp_source"] == "timestamp"
    assert track["extra_fields"] == {"integrations": {}, "originalTimestamp": "2015-12-12T19:11:01.152Z"}


def test_without_timestamp_the_device_time_is_corrected_by_the_collector_clock(tmp_path):
    segment = json.loads(SEGMENT_TRACK)
    del segment["timestamp"]
    simple = {  # round numbers: 12:00:10 - (12:00:05 - 12:00:00) = 12:00:05
        "messageId": "m-s",
        "type": "track",
        "event": "order_completed",
        "anonymousId": "a",
        "originalTimestamp": "2026-03-02T12:00:00Z",
        "sentAt": "2026-03-02T12:00:05Z",
        "receivedAt": "2026-03-02T12:00:10Z",
    }

    (from_segment,) = (values(r) for r in parsed_on(tmp_path, dt.date(2015, 12, 12), segment))
    (rudderstack,) = (
        values(r) for r in parsed_on(tmp_path, dt.date(2022, 8, 7), json.loads(RUDDERSTACK_TRACK))
    )
    (round_numbers,) = (values(r) for r in parsed_on(tmp_path, dt.date(2026, 3, 2), simple))

    # the value Segment's own server computed for this payload
    assert from_segment["event_timestamp"] == dt.datetime(2015, 12, 12, 19, 11, 1, 249000, tzinfo=UTC)
    assert rudderstack["event_timestamp"] == dt.datetime(2022, 8, 7, 20, 2, 19, 364000, tzinfo=UTC)
    assert round_numbers["event_timestamp"] == dt.datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)
    assert {from_segment["timestamp_source"], rudderstack["timestamp_source"]} == {"skew_corrected"}
    assert rudderstack["received_at"] == dt.datetime(2022, 8, 7, 20, 2, 19, 369000, tzinfo=UTC)
    assert rudderstack["sent_at"] == dt.datetime(2022, 8, 7, 20, 2, 19, 352000, tzinfo=UTC)
    # the payload's own fields are kept as sent
    assert rudderstack["extra_fields"] == {
        "channel": "web",
        "rudderId": "4a47e99b-2afc-45c6-b902-ed69282ca805",
        "integrations": {"All": True},
        "originalTimestamp": "2022-08-07T20:02:19.347Z",
    }
    assert (rudderstack["event_name"], rudderstack["user_id"]) == ("Product Added", "userSampleX138")


def test_only_original_timestamp_or_only_received_at(tmp_path):
    rudderstack = json.loads(RUDDERSTACK_TRACK)
    no_sent_at = {k: v for k, v in rudderstack.items() if k != "sentAt"}
    device_only = {k: v for k, v in no_sent_at.items() if k != "receivedAt"}
    collector_only = {k: v for k, v in rudderstack.items() if k not in ("sentAt", "originalTimestamp")}

    rows = [
        values(r) for r in parsed_on(tmp_path, dt.date(2022, 8, 7), no_sent_at, device_only, collector_only)
    ]

    device_time = dt.datetime(2022, 8, 7, 20, 2, 19, 347000, tzinfo=UTC)
    received = dt.datetime(2022, 8, 7, 20, 2, 19, 369000, tzinfo=UTC)
    assert [(r["event_timestamp"], r["timestamp_source"]) for r in rows] == [
        (device_time, "originalTimestamp"),  # receivedAt alone cannot correct the device's clock
        (device_time, "originalTimestamp"),
        (received, "receivedAt"),
    ]
    assert rows[2]["event_timestamp"].utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_an_event_with_no_time_at_all_or_a_bad_derived_time_is_rejected(tmp_path):
    rudderstack = json.loads(RUDDERSTACK_TRACK)
    no_time = {k: v for k, v in rudderstack.items() if k not in ("originalTimestamp", "receivedAt")}
    bad_device_clock = {**rudderstack, "originalTimestamp": "yesterday"}
    device_reset_to_1970 = {
        k: v for k, v in {**rudderstack, "originalTimestamp": "1970-01-01T00:00:00Z"}.items() if k != "sentAt"
    }
    # corrected: 20:02:19.369 - (20:02:19.352 - 1970) lands in 2022 again: the skew is corrected
    skewed_device = {
        **rudderstack,
        "originalTimestamp": "1970-01-01T00:00:00Z",
        "sentAt": "1970-01-01T00:00:05Z",
    }
    out_of_range = {
        **rudderstack,
        "sentAt": "0001-01-01T00:00:00Z",
        "originalTimestamp": "9999-12-31T00:00:00Z",
    }
    # a queue of 30 years (10957 days) on the device: the corrected time is before 1995
    queued_too_long = {
        **rudderstack,
        "originalTimestamp": "1990-01-01T00:00:00Z",
        "sentAt": "2020-01-01T00:00:00Z",
    }

    results = parsed_on(
        tmp_path,
        dt.date(2022, 8, 7),
        no_time,
        bad_device_clock,
        device_reset_to_1970,
        skewed_device,
        out_of_range,
        queued_too_long,
    )

    assert [r.reason if isinstance(r, Rejected) else None for r in results] == [
        "timestamp: missing, and neither originalTimestamp nor receivedAt is set to take it from",
        "originalTimestamp: 'yesterday' is not an ISO-8601 timestamp",
        "originalTimestamp: 1970-01-01T00:00:00+00:00 is before 1995-01-01",
        None,
        "timestamp (receivedAt - (sentAt - originalTimestamp)): outside the years 1 to 9999",
        "timestamp (receivedAt - (sentAt - originalTimestamp)): 1992-08-08T01:32:19.369000+05:30"
        " (1992-08-07 in UTC) is before 1995-01-01",
    ]
    skewed = values(results[3])
    assert skewed["event_timestamp"] == dt.datetime(2022, 8, 7, 20, 2, 14, 369000, tzinfo=UTC)
    assert skewed["timestamp_source"] == "skew_corrected"
