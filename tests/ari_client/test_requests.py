"""Each client method sends the request Asterisk expects (method, path, query, body)."""

from __future__ import annotations

import pytest

from payivr.ari import media
from payivr.ari.client import AriClient, Direction, HangupReason, ari_base_url
from payivr.ari.models import Application, Bridge, Channel, Playback

from .fakeari import PASSWORD, USER, FakeAri, bridge_json, channel_json


async def test_channels_get_and_list_return_channels(fake: FakeAri, ari: AriClient) -> None:
    fake.channels = [channel_json("caller-leg"), channel_json("agent-leg")]
    fake.routes[("GET", "/channels/caller-leg")] = (200, channel_json("caller-leg"))

    listed = await ari.channels.list()
    one = await ari.channels.get("caller-leg")

    assert [c.id for c in listed] == ["caller-leg", "agent-leg"]
    assert isinstance(one, Channel)
    assert one.state == "Up"
    assert one.caller.number == "1002"
    assert one.dialplan.app_data == "payivr,test"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/channels"), ("GET", "/channels/caller-leg")]


@pytest.mark.parametrize(
    ("call", "method", "path", "query"),
    [
        (lambda a: a.channels.answer("c1"), "POST", "/channels/c1/answer", {}),
        (lambda a: a.channels.hangup("c1"), "DELETE", "/channels/c1", {}),
        (lambda a: a.channels.hangup("c1", reason_code=16), "DELETE", "/channels/c1",
         {"reason_code": "16"}),
        (lambda a: a.channels.hangup("c1", reason=HangupReason.BUSY), "DELETE", "/channels/c1",
         {"reason": "busy"}),
        (lambda a: a.channels.send_dtmf("c1", "42", between=200, duration=120), "POST",
         "/channels/c1/dtmf", {"dtmf": "42", "between": "200", "duration": "120"}),
        (lambda a: a.channels.mute("c1"), "POST", "/channels/c1/mute", {"direction": "both"}),
        (lambda a: a.channels.mute("c1", Direction.IN), "POST", "/channels/c1/mute",
         {"direction": "in"}),
        (lambda a: a.channels.unmute("c1", "out"), "DELETE", "/channels/c1/mute",
         {"direction": "out"}),
        (lambda a: a.channels.hold("c1"), "POST", "/channels/c1/hold", {}),
        (lambda a: a.channels.unhold("c1"), "DELETE", "/channels/c1/hold", {}),
        (lambda a: a.channels.start_moh("c1"), "POST", "/channels/c1/moh", {}),
        (lambda a: a.channels.start_moh("c1", "quiet"), "POST", "/channels/c1/moh",
         {"mohClass": "quiet"}),
        (lambda a: a.channels.stop_moh("c1"), "DELETE", "/channels/c1/moh", {}),
        (lambda a: a.channels.start_silence("c1"), "POST", "/channels/c1/silence", {}),
        (lambda a: a.channels.stop_silence("c1"), "DELETE", "/channels/c1/silence", {}),
        (lambda a: a.channels.set_variable("c1", "PAYIVR_STATE", "paying"), "POST",
         "/channels/c1/variable", {"variable": "PAYIVR_STATE", "value": "paying"}),
        (lambda a: a.channels.continue_in_dialplan("c1"), "POST", "/channels/c1/continue", {}),
        (lambda a: a.channels.continue_in_dialplan("c1", context="agents", extension="100",
                                                   priority=1), "POST", "/channels/c1/continue",
         {"context": "agents", "extension": "100", "priority": "1"}),
        (lambda a: a.channels.continue_in_dialplan("c1", label="after-pay"), "POST",
         "/channels/c1/continue", {"label": "after-pay"}),
        (lambda a: a.bridges.add_channel("payivr-b1", ["caller-leg", "agent-leg"]), "POST",
         "/bridges/payivr-b1/addChannel", {"channel": "caller-leg,agent-leg"}),
        (lambda a: a.bridges.add_channel("payivr-b1", "caller-leg", absorb_dtmf=True,
                                         mute=False, role="participant",
                                         inhibit_connected_line_updates=True),
         "POST", "/bridges/payivr-b1/addChannel",
         {"channel": "caller-leg", "absorbDTMF": "true", "mute": "false", "role": "participant",
          "inhibitConnectedLineUpdates": "true"}),
        (lambda a: a.bridges.remove_channel("payivr-b1", "caller-leg"), "POST",
         "/bridges/payivr-b1/removeChannel", {"channel": "caller-leg"}),
        (lambda a: a.bridges.destroy("payivr-b1"), "DELETE", "/bridges/payivr-b1", {}),
        (lambda a: a.playbacks.stop("pb-2"), "DELETE", "/playbacks/pb-2", {}),
    ],
)
async def test_void_methods_send_expected_request(
    fake: FakeAri, ari: AriClient, call, method: str, path: str, query: dict[str, str],
) -> None:
    assert await call(ari) is None
    (request,) = fake.requests
    assert (request.method, request.path, request.query) == (method, path, query)


async def test_play_sends_media_list_and_client_playback_id(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/channels/caller-leg/play")] = (201, {
        "id": "pb-2", "media_uri": "number:137", "target_uri": "channel:caller-leg",
        "language": "en", "state": "queued"})

    playback = await ari.channels.play(
        "caller-leg", [media.number(137), media.sound("dollars"), media.digits("42")],
        playback_id="pb-2", lang="en")

    assert isinstance(playback, Playback)
    assert (playback.id, playback.state, playback.channel_id) == ("pb-2", "queued", "caller-leg")
    (request,) = fake.requests
    assert request.query == {"media": "number:137,sound:dollars,digits:42", "playbackId": "pb-2",
                             "lang": "en"}
    assert "digits:42" not in repr(playback)


async def test_media_builders() -> None:
    assert media.sound("payivr/en/welcome") == "sound:payivr/en/welcome"
    assert media.characters("AB1") == "characters:AB1"
    assert media.tone("ring") == "tone:ring"
    with pytest.raises(ValueError, match="comma"):
        media.sound("a,b")
    with pytest.raises(ValueError):
        media.digits("12a")


async def test_originate_sends_ids_app_args_and_variables(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/channels")] = (200, channel_json("payivr-agent-1", state="Down"))

    channel = await ari.channels.originate(
        "PJSIP/1001", channel_id="payivr-agent-1", other_channel_id="payivr-agent-1b",
        app="payivr", app_args=["inbound", "PJSIP/1001"], caller_id='"Pay IVR" <+441234>',
        dial_timeout=30, variables={"PAYIVR_CALL": "k1"})

    assert channel.id == "payivr-agent-1" and channel.state == "Down"
    (request,) = fake.requests
    assert request.path == "/channels"
    assert request.query == {
        "endpoint": "PJSIP/1001", "channelId": "payivr-agent-1",
        "otherChannelId": "payivr-agent-1b", "app": "payivr", "appArgs": "inbound,PJSIP/1001",
        "callerId": '"Pay IVR" <+441234>', "timeout": "30"}
    assert request.body == {"variables": {"PAYIVR_CALL": "k1"}}


async def test_snoop_and_variables(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/channels/c1/snoop")] = (200, channel_json("snoop-1"))
    fake.routes[("GET", "/channels/c1/variable")] = (200, {"value": "paying"})

    snoop = await ari.channels.snoop("c1", app="payivr", spy=Direction.IN, snoop_id="snoop-1",
                                     app_args="snoop")
    value = await ari.channels.get_variable("c1", "PAYIVR_STATE")

    assert snoop.id == "snoop-1" and value == "paying"
    assert [r.query for r in fake.requests] == [
        {"app": "payivr", "spy": "in", "whisper": "none", "appArgs": "snoop",
         "snoopId": "snoop-1"},
        {"variable": "PAYIVR_STATE"}]


async def test_bridges_create_get_list(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/bridges")] = (200, bridge_json("payivr-b1"))
    fake.routes[("GET", "/bridges/payivr-b1")] = (200, bridge_json("payivr-b1", ["c1"]))
    fake.bridges = [bridge_json("payivr-b1"), bridge_json("other")]

    created = await ari.bridges.create("payivr-b1", name="call k1")
    got = await ari.bridges.get("payivr-b1")
    listed = await ari.bridges.list()

    assert isinstance(created, Bridge) and got.channels == ("c1",)
    assert [b.id for b in listed] == ["payivr-b1", "other"]
    assert fake.requests[0].query == {"bridgeId": "payivr-b1", "type": "mixing,dtmf_events",
                                      "name": "call k1"}


async def test_bridge_type_is_configurable(fake: FakeAri, ari: AriClient) -> None:
    fake.routes[("POST", "/bridges")] = (200, bridge_json("payivr-h"))
    await ari.bridges.create("payivr-h", type=["holding"])
    await ari.bridges.create("payivr-h", type="mixing, dtmf_events")
    assert [r.query["type"] for r in fake.requests] == ["holding", "mixing,dtmf_events"]


async def test_destroy_leftovers_only_touches_prefixed_bridges(fake: FakeAri,
                                                               ari: AriClient) -> None:
    fake.bridges = [bridge_json("payivr-old"), bridge_json("payivr-live"),
                    bridge_json("someone-else"), bridge_json("payivr-gone")]
    fake.routes[("DELETE", "/bridges/payivr-gone")] = (404, {"message": "Bridge not found"})

    destroyed = await ari.bridges.destroy_leftovers("payivr-", keep={"payivr-live"})

    assert destroyed == ["payivr-old"]
    assert fake.paths("DELETE") == ["/bridges/payivr-old", "/bridges/payivr-gone"]
    with pytest.raises(ValueError):
        await ari.bridges.destroy_leftovers("")


async def test_applications_and_asterisk(fake: FakeAri, ari: AriClient) -> None:
    fake.channels = [channel_json("c1")]
    fake.routes[("GET", "/asterisk/info")] = (200, {
        "system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"},
        "status": {"startup_time": "2026-11-21T21:00:00.000+0000",
                   "last_reload_time": "2026-11-21T21:00:00.000+0000"}})

    application = await ari.applications.get("payivr")
    ping = await ari.asterisk.ping()
    info = await ari.asterisk.info()

    assert application == Application(name="payivr", channel_ids=("c1",))
    assert ping.asterisk_id == "02:fc:00:00:00:01"
    assert info.version == "22.10.1"
    assert fake.paths() == ["/applications/payivr", "/asterisk/ping", "/asterisk/info"]


async def test_ids_with_semicolons_go_in_the_path_as_asterisk_shows_them(
    fake: FakeAri, ari: AriClient,
) -> None:
    await ari.channels.hangup("caller-phone;2")
    assert fake.requests[0].path == "/channels/caller-phone;2"
    with pytest.raises(ValueError):
        await ari.channels.answer("a/b")


async def test_credentials_only_in_the_authorization_header(fake: FakeAri,
                                                            ari: AriClient) -> None:
    await ari.channels.answer("c1")
    (request,) = fake.requests
    assert request.authorization is not None and request.authorization.startswith("Basic ")
    assert USER not in request.raw_url and PASSWORD not in request.raw_url
    assert PASSWORD not in repr(ari)


async def test_wrong_password_is_unauthorized(fake: FakeAri) -> None:
    from payivr.ari.errors import Unauthorized

    async with AriClient(fake.url, USER, "wrong") as client:
        with pytest.raises(Unauthorized) as info:
            await client.channels.list()
    assert info.value.status == 401
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8088", "http://127.0.0.1:8088/",
                                 "http://127.0.0.1:8088/ari", "http://127.0.0.1:8088/ari/"])
def test_base_url_normalised(url: str) -> None:
    assert str(ari_base_url(url)) == "http://127.0.0.1:8088/ari"


def test_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as info:
        ari_base_url("http://payivr:hunter2@127.0.0.1:8088")
    assert "hunter2" not in str(info.value)


def test_events_url_has_app_and_no_credentials() -> None:
    client = AriClient("https://pbx.example:8089", USER, PASSWORD)
    url = client.events_url("payivr")
    assert str(url) == "wss://pbx.example:8089/ari/events?app=payivr&subscribeAll=false"


async def test_request_observers_get_method_and_ids_only(fake: FakeAri, ari: AriClient) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    remove = ari.add_request_observer(lambda method, path: seen.append((method, path)))
    fake.routes[("POST", "/channels/c1/play")] = (201, {"id": "pb-1", "state": "queued"})

    await ari.channels.play("c1", media.digits("4242"), playback_id="pb-1")
    await ari.channels.send_dtmf("c1", "987")
    remove()
    await ari.channels.answer("c1")

    assert seen == [("POST", ("channels", "c1", "play")), ("POST", ("channels", "c1", "dtmf"))]
    assert len(fake.requests) == 3
