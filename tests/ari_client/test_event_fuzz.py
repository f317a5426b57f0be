"""Bad input on the ARI event WebSocket (issue 8 §2), found with hypothesis.

Events are generated from the ARI spec's own models (Asterisk 22's ``events.json`` and the
models it refers to): every event type the spec defines, valid, then with one field broken
(deleted, or given a value of another JSON type, up to nesting deeper than the JSON decoder
allows); plus random JSON, non-JSON text and bytes. ``parse_event`` either returns an event
(or ``None`` for a type payivr does not use) or raises its own ``MalformedEvent``; through the
real ``EventStream`` against a small WebSocket server, junk between valid events is skipped,
the valid events arrive in order on the one connection, and no DTMF digits of a malformed
``ChannelDtmfReceived`` reach the log.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payivr.ari import events
from payivr.ari.client import AriClient
from payivr.ari.events import MalformedEvent, parse_event
from payivr.ari.stream import Backoff, EventStream
from payivr.sim.ari.spec import shipped_spec
from tests.logbuffer import payivr_log_buffer

from .fakeari import PASSWORD, USER, FakeAri, channel_json, event_json

SPEC_MODELS: dict[str, dict[str, Any]] = shipped_spec().models
EVENT_NAMES = sorted(SPEC_MODELS["Event"]["subTypes"])
DEEP = "\x00deep\x00"
"""Placeholder for a value nested deeper than json.dumps (or json.loads) can go; swapped for
the real text after dumping."""
JSON_TYPES = (type(None), bool, int, float, str, list, dict)

PROPERTIES = settings(max_examples=150, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


# -- strategies from the spec ------------------------------------------------------------


def _parent(model: str) -> str | None:
    return next((name for name, spec in SPEC_MODELS.items()
                 if model in spec.get("subTypes", ())), None)


def _properties(model: str) -> dict[str, dict[str, Any]]:
    parent = _parent(model)
    inherited = _properties(parent) if parent else {}
    return {**inherited, **SPEC_MODELS[model].get("properties", {})}


def _value(prop: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    allowed = prop.get("allowableValues", {})
    if allowed.get("valueType") == "LIST":
        return st.sampled_from(allowed["values"])
    return _of_type(prop["type"], depth)


def _of_type(type_name: str, depth: int) -> st.SearchStrategy[Any]:
    if type_name.startswith("List[") and type_name.endswith("]"):
        return st.lists(_of_type(type_name[5:-1], depth), max_size=3)
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(max_size=12),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "double": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "Date": st.just("2026-11-21T21:11:06.771+0000"),
        "object": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    }
    if type_name in scalars:
        return scalars[type_name]
    if type_name in SPEC_MODELS and depth < 4:
        return _model(type_name, depth + 1)
    return st.none()


def _model(model: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, prop in _properties(model).items():
        (required if prop.get("required") else optional)[name] = _value(prop, depth)
    return st.fixed_dictionaries(required, optional=optional)


def valid_event(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return _model(name).map(lambda fields: {**fields, "type": name})


any_valid_event = st.sampled_from(EVENT_NAMES).flatmap(valid_event)

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(10**20, 10**40)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
any_json = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a JSON value (dict keys and list items), outer ones first."""
    children = (value.items() if isinstance(value, dict)
                else enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        if prefix == () and key == "type":
            continue  # a broken type is "random JSON", generated on its own
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _with(value: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    """``value`` with the item at ``path`` replaced (or removed when ``replacement`` is
    ``_REMOVE``); the original is left alone."""
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = _with(value[head], tuple(rest), replacement)
    elif replacement is _REMOVE:
        del copy[head]
    else:
        copy[head] = replacement
    return copy


_REMOVE = object()


@st.composite
def broken_event(draw: st.DrawFn, names: list[str] = EVENT_NAMES) -> str:
    """An event of the spec with one field deleted or given a value of another JSON type."""
    valid = draw(st.sampled_from(names).flatmap(valid_event))
    path = draw(st.sampled_from(list(_paths(valid))))
    current: Any = valid
    for key in path:
        current = current[key]
    wrong = draw(st.just(_REMOVE) | st.just(DEEP)
                 | any_json.filter(lambda v: type(v) is not type(current)))
    return dump(_with(valid, path, wrong))


def dump(value: Any) -> str:
    """JSON text, with any ``DEEP`` placeholder replaced by arrays nested 100,000 deep."""
    return json.dumps(value).replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000)


not_json = st.text(max_size=60) | st.binary(max_size=60)

junk = st.one_of(broken_event(), any_json.map(dump), not_json,
                 any_valid_event.map(dump))


# -- the parser on its own --------------------------------------------------------------


def parse_or_refuse(raw: str | bytes) -> events.AriEvent | None:
    """What the reader does with a frame: an event, None (skipped) or MalformedEvent."""
    try:
        return parse_event(raw)
    except MalformedEvent as refused:
        assert refused.reason and "\x00" not in str(refused)
        return None


@PROPERTIES
@given(raw=junk)
def test_parser_returns_an_event_or_raises_its_own_error(raw: str | bytes) -> None:
    event = parse_or_refuse(raw)
    assert event is None or isinstance(event, events.AriEvent)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_valid_event_of_the_spec_parses(data: st.DataObject) -> None:
    """The other direction: what the spec allows is never refused."""
    name = data.draw(st.sampled_from(sorted(events.EVENT_TYPES)))
    event = parse_event(dump(data.draw(valid_event(name))))
    if event is not None:  # ChannelVarset/ChannelEnteredBridge without a channel are skipped
        assert type(event).__name__ == name


def test_nesting_just_below_the_decoders_limit_is_refused_too() -> None:
    """The deepest value json.loads still accepts, where the parser goes further down."""
    depth = next(d for d in range(100, 5000) if _too_deep(d)) - 1
    for where in ("channelvars", "caller", "dialplan", "name"):
        channel = {**channel_json("c1"), where: json.loads("[" * (depth - 4) + "]" * (depth - 4))}
        for raw in (json.dumps(event_json("StasisStart", args=[], channel=channel)),
                    "[" * depth + "]" * depth, '{"type": "Dial", "peer": ' + "[" * depth):
            assert parse_or_refuse(raw) is None


def _too_deep(depth: int) -> bool:
    try:
        json.loads("[" * depth + "]" * depth)
    except RecursionError:
        return True
    return False


def test_a_boolean_duration_is_not_an_integer() -> None:
    raw = event_json("ChannelDtmfReceived", digit="5", duration_ms=True,
                     channel=channel_json("c1"))
    assert parse_or_refuse(json.dumps(raw)) is None


# -- through the real EventStream ---------------------------------------------------------

SEQUENCE_LEG = "sequence-leg"


def numbered(index: int) -> dict[str, Any]:
    """The valid events the test follows: one key each, numbered by duration_ms."""
    return event_json("ChannelDtmfReceived", digit="5", duration_ms=index,
                      channel=channel_json(SEQUENCE_LEG))


@st.composite
def malformed_dtmf(draw: st.DrawFn) -> tuple[str, str]:
    """A ChannelDtmfReceived payivr must refuse, holding ``digits`` (7-11 of them, too short
    for the log's card mask to hide them), and those digits."""
    digits = draw(st.text("0123456789", min_size=7, max_size=11))
    broken = draw(st.sampled_from(["no channel", "channel", "duration", "digit"]))
    fields: dict[str, Any] = {"digit": digits, "duration_ms": 80,
                              "channel": channel_json(SEQUENCE_LEG)}
    if broken == "no channel":
        del fields["channel"]
    elif broken == "channel":
        fields["channel"] = draw(any_json.filter(lambda v: not isinstance(v, dict)))
    elif broken == "duration":
        fields["duration_ms"] = draw(st.sampled_from([True, "80", 80.5, None, [80]]))
    else:
        fields["digit"] = draw(st.sampled_from([int(digits), [digits], {"digit": digits}]))
    return json.dumps(event_json("ChannelDtmfReceived", **fields)), digits


stream_junk = st.one_of(
    junk.filter(lambda raw: not _is_control_event(raw)),
    malformed_dtmf(),
)


def _is_control_event(raw: str | bytes) -> bool:
    """ApplicationReplaced ends the connection on purpose: not junk."""
    try:
        return isinstance(parse_event(raw), events.ApplicationReplaced)
    except MalformedEvent:
        return False


async def _through_the_stream(frames: list[str | bytes | tuple[str, str]]
                              ) -> tuple[list[int], int, list[str]]:
    """Send a numbered valid event after each frame; return the numbers that arrived, the
    connections made and the digits of the malformed DTMF events sent."""
    fake = await FakeAri().start()
    arrived: list[int] = []
    done = asyncio.Event()
    hidden: list[str] = []

    def on_event(event: events.AriEvent) -> None:
        if isinstance(event, events.ChannelDtmfReceived) and event.channel.id == SEQUENCE_LEG \
                and event.digit == "5":
            arrived.append(event.duration_ms)
            if len(arrived) == len(frames) + 1:
                done.set()

    try:
        async with AriClient(fake.url, USER, PASSWORD, request_timeout=5.0) as ari:
            stream = EventStream(ari, "payivr", on_event=on_event, heartbeat=0.5,
                                 backoff=Backoff(0.02, 0.1, rng=random.Random(1)))
            task = asyncio.create_task(stream.run())
            try:
                await asyncio.wait_for(stream.connected.wait(), 5)
                await fake.send(numbered(0))
                for index, frame in enumerate(frames, start=1):
                    if isinstance(frame, tuple):
                        frame, digits = frame
                        hidden.append(digits)
                    if isinstance(frame, bytes):
                        await fake.sockets[-1].send_bytes(frame)
                    else:
                        await fake.send(frame)
                    await fake.send(numbered(index))
                await asyncio.wait_for(done.wait(), 10)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            return arrived, stream.connections, hidden
    finally:
        await fake.stop()


def _logged_without_timestamps(text: str) -> str:
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        entry.pop("timestamp", None)
        lines.append(json.dumps(entry))
    return "\n".join(lines)


def run_with_logging(frames: list[Any]) -> tuple[list[int], int, str, list[str]]:
    """Run the stream with payivr's own logging (DEBUG, JSON) written to a buffer."""
    with payivr_log_buffer() as buffer:
        arrived, connections, hidden = asyncio.run(_through_the_stream(frames))
    return arrived, connections, _logged_without_timestamps(buffer.getvalue()), hidden


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames=st.lists(stream_junk, min_size=1, max_size=12))
def test_junk_between_events_never_stops_the_stream(frames: list[Any]) -> None:
    arrived, connections, logged, hidden = run_with_logging(frames)
    assert arrived == list(range(len(frames) + 1))
    assert connections == 1  # the reader kept its one connection
    assert "ari.event_malformed" in logged or not any(isinstance(f, tuple) for f in frames)
    for digits in hidden:
        assert digits not in logged


def test_the_worst_frames_in_a_row() -> None:
    """Hand-picked: nesting past the decoder's limit, a 1 MB frame, bytes that are no UTF-8,
    JSON that is not an object, a wrong type for `type`, and malformed DTMF events."""
    frames: list[Any] = [
        "[" * 100_000 + "]" * 100_000,
        '{"type": "StasisStart", "application": "payivr", "channel": '
        + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}",
        "x" * 1_000_000,
        b"\xff\xfe\x00\x80",
        "null", "[]", "42", '"ChannelDtmfReceived"', '{"type": 5}', '{"type": null}',
        json.dumps(event_json("ChannelDtmfReceived", digit=4929012, duration_ms=80,
                              channel=channel_json(SEQUENCE_LEG))),
        json.dumps(event_json("ChannelDtmfReceived", digit="5", duration_ms=True,
                              channel=channel_json(SEQUENCE_LEG))),
        json.dumps({"type": "ChannelDtmfReceived", "digit": "8675309"}),
        json.dumps(event_json("StasisEnd", channel={"id": ["c1"]})),
        json.dumps(event_json("TotallyNewEvent", channel=channel_json("c1"))),
    ]
    arrived, connections, logged, _ = run_with_logging(frames)
    assert arrived == list(range(len(frames) + 1))
    assert connections == 1
    assert "4929012" not in logged and "8675309" not in logged
    assert logged.count('"ari.event_malformed"') == len(frames) - 1  # all but the unknown type
