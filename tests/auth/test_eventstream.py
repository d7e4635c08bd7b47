"""lib/eventstream.c's frames as botocore decodes them.

tests/eventstream-frames writes the frames for the pieces its arguments name
($EVENTSTREAM_FRAMES, else $top_builddir/tests/eventstream-frames);
botocore.eventstream.EventStreamBuffer splits them and checks their lengths
and both CRCs, and botocore's own rest-json event-stream parser reads them
against the ResponseStream shape of InvokeEndpointWithResponseStream.  The
botocore that Debian ships predates that operation, so the few shapes it
needs are written here as the current service model has them.

No daemon and no Docker Engine: run by tests/run-auth-tests.
"""

import json
import os
import subprocess

import pytest
from botocore import model, parsers
from botocore.eventstream import (ChecksumMismatch, EventStream, EventStreamBuffer,
                                  EventStreamError)

# lib/eventstream.h's EVENTSTREAM_MAX_PAYLOAD.
MAX_PAYLOAD = 1 << 20

# InvokeEndpointWithResponseStream's event stream in the service model.
SHAPES = {
    "ResponseStream": {
        "type": "structure",
        "members": {
            "PayloadPart": {"shape": "PayloadPart"},
            "ModelStreamError": {"shape": "ModelStreamError"},
            "InternalStreamFailure": {"shape": "InternalStreamFailure"},
        },
        "eventstream": True,
    },
    "PayloadPart": {
        "type": "structure",
        "members": {"Bytes": {"shape": "PartBlob", "eventpayload": True}},
        "event": True,
    },
    "PartBlob": {"type": "blob", "sensitive": True},
    "ModelStreamError": {
        "type": "structure",
        "members": {"Message": {"shape": "Message"}, "ErrorCode": {"shape": "ErrorCode"}},
        "error": {"httpStatusCode": 400},
        "exception": True,
    },
    "InternalStreamFailure": {
        "type": "structure",
        "members": {"Message": {"shape": "Message"}},
        "exception": True,
        "fault": True,
    },
    "Message": {"type": "string", "max": 2048},
    "ErrorCode": {"type": "string"},
}

PAYLOAD_PART_HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}


def _frames_tool():
    tool = os.environ.get("EVENTSTREAM_FRAMES")
    if not tool:
        tool = os.path.join(os.environ.get("top_builddir", "."), "tests", "eventstream-frames")
    if not os.access(tool, os.X_OK):
        pytest.fail(f"{tool} is not built (make -C tests eventstream-frames)", pytrace=False)
    return tool


def frames(*pieces):
    """The bytes tests/eventstream-frames writes for pieces."""
    return subprocess.run([_frames_tool(), *pieces], check=True, capture_output=True, timeout=60).stdout


def messages(data, step=None):
    """The messages EventStreamBuffer makes of data, fed step bytes at a time."""
    buf = EventStreamBuffer()
    out = []
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        buf.add_data(data[i:i + step])
        out.extend(buf)
    return out


def fill(n):
    """fill:N's bytes."""
    return bytes(i % 251 for i in range(n))


class _RawStream:
    """What EventStream reads: the answer body, a few bytes at a time."""

    def __init__(self, data, step=13):
        self._chunks = [data[i:i + step] for i in range(0, len(data), step)]

    def stream(self):
        return iter(self._chunks)

    def close(self):
        pass


def events(data):
    """botocore's parse of data as InvokeEndpointWithResponseStream's Body,
    with the event-stream parser its rest-json parser hands a stream to."""
    shape = model.ShapeResolver(SHAPES).get_shape_by_name("ResponseStream")
    parser = parsers.EventStreamJSONParser()
    return EventStream(_RawStream(data), shape, parser, "InvokeEndpointWithResponseStream")


def test_each_piece_is_one_payload_part_with_its_three_headers_and_bytes():
    msgs = messages(frames("text:token 1 ", "move:token 2 ", "hex:00ff80c30a00"))
    assert [m.headers for m in msgs] == [PAYLOAD_PART_HEADERS] * 3
    assert [m.payload for m in msgs] == [b"token 1 ", b"token 2 ", b"\x00\xff\x80\xc3\n\x00"]


def test_lengths_in_the_prelude_match_the_message():
    (m,) = messages(frames("text:abc"))
    header_bytes = sum(1 + len(k) + 1 + 2 + len(v) for k, v in m.headers.items())
    assert m.prelude.total_length == 12 + header_bytes + 3 + 4
    assert m.prelude.headers_length == header_bytes


def test_frames_fed_a_byte_at_a_time_decode_the_same():
    data = frames("text:a", "text:bc", "model-error:ModelStreamError:m")
    assert [(m.headers, m.payload) for m in messages(data, step=1)] == \
        [(m.headers, m.payload) for m in messages(data)]


def test_a_piece_over_the_largest_payload_is_split_into_parts_that_join_to_it():
    n = MAX_PAYLOAD + 5
    msgs = messages(frames(f"fill:{n}"))
    assert [len(m.payload) for m in msgs] == [MAX_PAYLOAD, 5]
    assert b"".join(m.payload for m in msgs) == fill(n)


def test_a_changed_payload_byte_fails_the_message_crc():
    data = bytearray(frames("text:token"))
    data[-5] ^= 1
    with pytest.raises(ChecksumMismatch):
        messages(bytes(data))


def test_model_stream_error_is_an_exception_message_with_json_message_and_error_code():
    (m,) = messages(frames("model-error:ModelStreamError:Model timed out"))
    assert m.headers == {
        ":exception-type": "ModelStreamError",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(m.payload) == {"Message": "Model timed out", "ErrorCode": "ModelStreamError"}
    assert m.to_response_dict()["status_code"] == 400


def test_internal_stream_failure_is_an_exception_message_with_json_message():
    (m,) = messages(frames("internal-failure:could not go on"))
    assert m.headers[":exception-type"] == "InternalStreamFailure"
    assert m.headers[":message-type"] == "exception"
    assert json.loads(m.payload) == {"Message": "could not go on"}


def test_botocore_parses_payload_parts_in_order():
    got = [e["PayloadPart"]["Bytes"] for e in events(frames("text:token 1 ", "text:token 2 "))]
    assert got == [b"token 1 ", b"token 2 "]


def test_botocore_raises_model_stream_error_with_its_message_after_the_parts():
    parts = []
    with pytest.raises(EventStreamError) as e:
        for ev in events(frames("text:a", "model-error:ModelStreamError:Model exited")):
            parts.append(ev["PayloadPart"]["Bytes"])
    assert parts == [b"a"]
    assert e.value.response["Error"] == {"Code": "ModelStreamError", "Message": "Model exited"}


def test_botocore_raises_internal_stream_failure_with_its_message():
    with pytest.raises(EventStreamError) as e:
        list(events(frames("internal-failure:endpointd could not go on")))
    assert e.value.response["Error"] == {"Code": "InternalStreamFailure",
                                         "Message": "endpointd could not go on"}
