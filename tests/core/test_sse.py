from hypothesis import given, settings
from hypothesis import strategies as st

from glm_magic.sse import SSEDecoder


def parse(parts):
    dec = SSEDecoder()
    out = []
    for p in parts:
        out.extend(dec.feed(p))
    out.extend(dec.flush())
    return [(e.event, e.data, e.id, e.extra) for e in out]


STREAM = ("id:1\nevent:result\n:HTTP_STATUS/200\ndata:{\"a\": \"\u2028x\"}\n\n"
          "data: one\r\ndata: two\r\n\r\n: ping\n\nevent: finish\ndata: done\nmeta: {\"u\": 1}\n\n"
          "data: 中文\n\n").encode()


def test_fields_comments_and_line_endings():
    events = parse([STREAM])
    assert events == [
        ("result", '{"a": "\u2028x"}', "1", {}),
        ("message", "one\ntwo", None, {}),
        ("finish", "done", None, {"meta": '{"u": 1}'}),
        ("message", "中文", None, {}),
    ]


def test_final_event_without_blank_line_counts():
    assert parse([b"data: a\n\ndata: b"]) == [("message", "a", None, {}),
                                               ("message", "b", None, {})]


def test_lone_cr_line_endings():
    assert parse([b"data: a\r\rdata: b\r\r"]) == [("message", "a", None, {}),
                                                   ("message", "b", None, {})]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_parses_like_the_whole(cuts):
    cuts = sorted(set(cuts))
    parts, prev = [], 0
    for c in cuts + [len(STREAM)]:
        parts.append(STREAM[prev:c])
        prev = c
    assert parse(parts) == parse([STREAM])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data):
    parse([data[:50], data[50:]])
