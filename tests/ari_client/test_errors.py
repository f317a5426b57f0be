"""Asterisk's error answers become typed exceptions carrying status and Asterisk's message."""

from __future__ import annotations

import socket

import pytest

from payivr.ari import errors
from payivr.ari.client import AriClient

from .fakeari import PASSWORD, USER, FakeAri


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "kind", "extra"),
    [
        # Bodies as Asterisk 22 sends them (see the traces and api-docs).
        ("POST", "/channels/nonexistent/answer", 404, {"message": "Channel not found"},
         errors.ChannelNotFound, (errors.NotFound, errors.ChannelGone, errors.RequestError)),
        ("POST", "/bridges/payivr-b1/addChannel", 400, {"message": "Channel not found"},
         errors.ChannelNotFoundInBridge, (errors.BadRequest, errors.ChannelGone)),
        ("POST", "/bridges/payivr-b1/addChannel", 404, {"message": "Bridge not found"},
         errors.NotFound, (errors.RequestError,)),
        ("POST", "/bridges/payivr-b1/addChannel", 422,
         {"message": "Channel not in Stasis application"}, errors.Unprocessable, ()),
        ("POST", "/channels/c1/answer", 409, {"message": "Channel not in Stasis application"},
         errors.NotInStasis, (errors.Conflict,)),
        ("POST", "/channels", 409, {"message": "Channel with given unique ID already exists"},
         errors.Conflict, ()),
        ("POST", "/bridges", 409, {"message": "Bridge with id 'payivr-b1' already exists"},
         errors.Conflict, ()),
        ("POST", "/channels/c1/answer", 412, {"message": "Channel in invalid state"},
         errors.InvalidState, ()),
        ("POST", "/channels/c1/dtmf", 400, {"message": "DTMF is required"}, errors.BadRequest,
         ()),
        ("POST", "/channels/c1/answer", 403, {"error": "Forbidden"}, errors.Forbidden, ()),
        ("DELETE", "/playbacks/pb-2", 500, {"message": "Could not stop playback"},
         errors.ServerError, (errors.PeerError,)),
        ("GET", "/channels", 503, None, errors.ServerError, (errors.PeerError,)),
    ],
)
async def test_status_maps_to_exception(
    fake: FakeAri, ari: AriClient, method: str, path: str, status: int, body: object,
    kind: type[errors.AriError], extra: tuple[type[Exception], ...],
) -> None:
    fake.routes[(method, path)] = (status, body)
    segments = path.strip("/").split("/")

    with pytest.raises(errors.AriError) as info:
        await ari.request(method, *segments)

    assert type(info.value) is kind
    assert all(isinstance(info.value, k) for k in extra)
    assert info.value.status == status
    assert (info.value.method, info.value.path) == (method, path)
    if isinstance(body, dict):
        assert info.value.message == next(iter(body.values()))
        assert info.value.message in str(info.value)
    else:
        assert info.value.message == "Service Unavailable"


async def test_typed_methods_raise_channel_gone(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/channels/gone/answer")] = (404, {"message": "Channel not found"})
    fake.routes[("POST", "/bridges/payivr-b/addChannel")] = (400,
                                                             {"message": "Channel not found"})
    with pytest.raises(errors.ChannelGone):
        await ari.channels.answer("gone")
    with pytest.raises(errors.ChannelGone):
        await ari.bridges.add_channel("payivr-b", "gone", absorb_dtmf=True)


async def test_401_is_unauthorized_and_split_we_broke_it(fake: FakeAri) -> None:
    async with AriClient(fake.url, USER, "nope") as client:
        with pytest.raises(errors.Unauthorized) as info:
            await client.asterisk.ping()
    assert isinstance(info.value, errors.RequestError)
    assert not isinstance(info.value, errors.PeerError)
    assert info.value.message == "Authentication required"


async def test_error_never_carries_the_query_string(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/channels/c1/dtmf")] = (409, {"message": "Channel not in Stasis"})
    with pytest.raises(errors.NotInStasis) as info:
        await ari.channels.send_dtmf("c1", "4242424242424242")
    assert "4242" not in str(info.value)
    assert "4242" not in repr(info.value)


async def test_connection_refused_is_peer_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}", USER, PASSWORD) as client:
        with pytest.raises(errors.ConnectionFailed) as info:
            await client.channels.answer("c1")
    assert isinstance(info.value, errors.PeerError)
    assert info.value.status is None
    assert "cannot connect" in info.value.message


async def test_timeout_is_peer_error(fake: FakeAri) -> None:
    fake.delay = 1.0
    async with AriClient(fake.url, USER, PASSWORD, request_timeout=0.1) as client:
        with pytest.raises(errors.ConnectionFailed, match="timed out"):
            await client.channels.list()


async def test_unparseable_success_answer_is_peer_error(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("GET", "/channels/c1")] = (200, {"name": "no id"})
    with pytest.raises(errors.PeerError, match=r"Channel\.id"):
        await ari.channels.get("c1")


def test_long_messages_are_shortened() -> None:
    error = errors.error_for_status(500, "x" * 1000, method="GET", path="/channels")
    assert len(error.message) == 200
