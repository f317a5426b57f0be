"""Fidelity (1): the simulator accepts only what ARI's api-docs define, refuses the rest as
Asterisk does, and serves the api-docs as Asterisk does."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payivr.sim.ari import AriSimulator, shipped_spec
from payivr.sim.ari.spec import ApiSpec, RequestRejected, SpecOperation

from .helpers import API_DOCS, PASSWORD, USER, AriTestClient, basic_auth

SPEC = shipped_spec()


def test_the_shipped_api_docs_are_asterisks() -> None:
    fixture = ApiSpec.load(API_DOCS)
    assert fixture.documents == SPEC.documents
    assert len(SPEC.operations) == 109


def _independent_match(method: str, path: str) -> SpecOperation | None:
    """A second, regex-based reading of the spec's paths to check the router against."""
    for operation in SPEC.operations:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", operation.path) + "$"
        if operation.method == method and re.match(pattern, path):
            return operation
    return None


def _sample_value(operation: SpecOperation, name: str) -> str:
    parameter = operation.parameter(name)
    assert parameter is not None
    if parameter.allowed_values:
        return parameter.allowed_values[0]
    if parameter.data_type in ("int", "long"):
        return "1"
    if parameter.data_type == "boolean":
        return "true"
    return "x"


async def test_every_operation_of_the_spec_is_routed(client: AriTestClient) -> None:
    """A request for each operation, with its required parameters, reaches a handler
    (never 404 "Resource not found", 405 or 400 from validation)."""
    for operation in SPEC.operations:
        if operation.websocket:
            continue
        path = re.sub(r"\{[^}]+\}", "nosuch", operation.path)
        params = {p.name: _sample_value(operation, p.name) for p in operation.parameters
                  if p.location == "query" and p.required}
        body = {"variables": {}} if any(p.location == "body" and p.required
                                        for p in operation.parameters) else None
        status, payload = await client.request(operation.method, path, params, body)
        assert (status, payload) != (404, {"message": "Resource not found"}), operation
        assert status != 405, operation
        assert not (status == 400 and "parameter" in str(payload)), (operation, payload)


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "message"),
    [
        ("GET", "/nosuch", {}, 404, "Resource not found"),
        ("GET", "/channels/abc/nosuch", {}, 404, "Resource not found"),
        ("PUT", "/channels", {}, 405, "Invalid method"),
        ("PATCH", "/bridges/b1", {}, 405, "Invalid method"),
        ("GET", "/channels/", {}, 404, "ARI URLs do not end with a slash. Try /ari/channels"),
        ("POST", "/channels", {"app": "a"}, 400, "Endpoint must be specified"),
        ("POST", "/channels/c1/play", {}, 400, "Missing required parameter: media"),
        ("POST", "/bridges/b1/addChannel", {}, 400, "Missing parameter channel"),
        ("GET", "/channels/c1/variable", {}, 400, "Variable name is required"),
        ("GET", "/channels", {"bogus": "1"}, 400, "Unknown parameter: bogus"),
        ("POST", "/channels/c1/dtmf", {"dtmf": "1", "duration": "ten"}, 400,
         "Invalid integer for parameter: duration"),
        ("POST", "/bridges/b1/addChannel", {"channel": "c", "absorbDTMF": "maybe"}, 400,
         "Invalid boolean for parameter: absorbDTMF"),
        ("POST", "/channels/c1/mute", {"direction": "sideways"}, 400,
         "Invalid direction specified"),
        ("DELETE", "/channels/c1", {"reason": "bored"}, 400, "Invalid reason for hangup provided"),
        ("POST", "/playbacks/p1/control", {"operation": "rewind"}, 400, "Invalid operation"),
        ("POST", "/channels/c1/record", {"name": "r", "format": "wav",
                                         "maxDurationSeconds": "-1"}, 400,
         "maxDurationSeconds cannot be negative"),
        ("POST", "/channels/nosuch/answer", {}, 404, "Channel not found"),
        ("GET", "/playbacks/nosuch", {}, 404, "Playback not found"),
        ("GET", "/bridges/nosuch", {}, 404, "Bridge not found"),
        ("GET", "/applications/nosuch", {}, 404, "Application not found"),
        ("POST", "/channels", {"endpoint": "PJSIP/9999", "app": "a"}, 500, "Allocation failed"),
        ("POST", "/channels", {"endpoint": "nonsense", "app": "a"}, 400,
         "Invalid endpoint specified"),
        ("POST", "/channels", {"endpoint": "PJSIP/1"}, 400,
         "Application or extension must be specified"),
    ],
)
async def test_refusals_carry_asterisks_status_and_message(
    client: AriTestClient, method: str, path: str, params: dict[str, str], status: int,
    message: str
) -> None:
    assert await client.request(method, path, params) == (status, {"message": message})


async def test_405_names_the_allowed_methods(sim: AriSimulator) -> None:
    async with aiohttp.ClientSession() as session, session.put(
        sim.base_url + "/ari/bridges/b1", headers={"Authorization": basic_auth()}
    ) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "DELETE, GET, POST"


async def test_a_json_body_can_carry_parameters_and_variables(client: AriTestClient,
                                                              sim: AriSimulator) -> None:
    sim.add_phone("agent", "PJSIP/1001")
    status, channel = await client.request(
        "POST", "/channels", body={"endpoint": "PJSIP/1001", "app": "payivr",
                                   "channelId": "out-1", "variables": {"CRM_ID": "42"}})
    assert status == 200 and channel["id"] == "out-1"
    assert sim.channels["out-1"].variables["CRM_ID"] == "42"
    status, payload = await client.request(
        "POST", "/channels", body={"endpoint": "PJSIP/1001", "app": "payivr",
                                   "variables": {"N": 1}})
    assert (status, payload) == (400, {"message":
                                       "Only string values in the 'variables' object allowed"})
    status, payload = await client.request("POST", "/channels", body={"endpoint": "PJSIP/1001",
                                                                      "app": "a", "nope": 1})
    assert (status, payload) == (400, {"message": "Unknown parameter: nope"})


async def test_a_broken_json_body_is_refused(sim: AriSimulator) -> None:
    async with aiohttp.ClientSession() as session, session.post(
        sim.base_url + "/ari/bridges", data=b"{not json",
        headers={"Authorization": basic_auth(), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert await response.json() == {"message": "Error parsing request body"}


async def test_form_encoded_parameters_are_read_like_query_parameters(
    sim: AriSimulator,
) -> None:
    async with aiohttp.ClientSession() as session, session.post(
        sim.base_url + "/ari/bridges", data={"type": "holding", "bridgeId": "form"},
        headers={"Authorization": basic_auth()},
    ) as response:
        assert response.status == 200
        assert (await response.json())["bridge_type"] == "holding"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": basic_auth(USER, "wrong")}, {"Authorization": "Bearer x"}],
)
async def test_requests_without_valid_credentials_get_401(sim: AriSimulator,
                                                          headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session, session.get(
        sim.base_url + "/ari/asterisk/ping", headers=headers
    ) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'
        assert await response.json() == {"message": "Authentication required"}


async def test_api_key_authenticates_like_asterisk(sim: AriSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + "/ari/asterisk/ping",
                               params={"api_key": f"{USER}:{PASSWORD}"}) as response:
            assert response.status == 200
            assert (await response.json())["ping"] == "pong"
        async with session.get(sim.base_url + "/ari/asterisk/ping",
                               params={"api_key": f"{USER}:nope"}) as response:
            assert response.status == 401


async def test_api_docs_are_served_with_the_base_path_of_the_request(sim: AriSimulator) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": basic_auth()}) as session:
        async with session.get(sim.base_url + "/ari/api-docs/resources.json") as response:
            listing = await response.json()
        host = sim.base_url.removeprefix("http://")
        assert listing["basePath"] == f"http://{host}/ari"
        assert [api["path"] for api in listing["apis"]] == [
            api["path"] for api in SPEC.documents["resources"]["apis"]]
        async with session.get(sim.base_url + "/ari/api-docs/channels.json") as response:
            channels = await response.json()
        assert channels["apis"] == SPEC.documents["channels"]["apis"]
        async with session.get(sim.base_url + "/ari/api-docs/nosuch.json") as response:
            assert response.status == 404
        async with session.post(sim.base_url + "/ari/api-docs/channels.json") as response:
            assert response.status == 405
            assert await response.json() == {"message": "Unsupported method"}
        async with session.get(sim.base_url + "/elsewhere") as response:
            assert response.status == 404
            assert response.content_type == "text/html"


async def test_the_websocket_requires_its_app_parameter(client: AriTestClient) -> None:
    stream = await client.events("")
    await stream.closed.wait()
    assert stream.events == [{"type": "MissingParams", "params": ["app"]}]


async def test_the_events_url_without_upgrade_is_refused(client: AriTestClient) -> None:
    status, _ = await client.request("GET", "/events", {"app": "payivr"})
    assert status == 426


_SEGMENTS = sorted({segment for op in SPEC.operations for segment in op.path.strip("/").split("/")
                    if not segment.startswith("{")} | {"abc", "1", "x y", ""})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       segments=st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=5))
def test_the_router_accepts_exactly_the_spec_paths(method: str, segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    expected = _independent_match(method, path)
    try:
        route = SPEC.route(method, segments)
    except RequestRejected as rejected:
        assert expected is None
        assert rejected.status in (404, 405)
        return
    assert route.operation == expected


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_", min_size=1, max_size=12))
def test_unknown_parameter_names_are_refused(name: str) -> None:
    operation = SPEC.route("POST", ["channels", "c1", "play"]).operation
    known = {parameter.name for parameter in operation.parameters} | {"api_key"}
    query = [("media", "sound:beep"), (name, "1")]
    if name in known:
        SPEC.parse_arguments(operation, {"channelId": "c1"}, query, None)
    else:
        with pytest.raises(RequestRejected, match="Unknown parameter"):
            SPEC.parse_arguments(operation, {"channelId": "c1"}, query, None)


def test_all_handlers_are_for_spec_operations(sim: AriSimulator) -> None:
    # AriFront refuses at construction to handle an operation the spec lacks
    assert sim.requests == []


def test_model_validation_catches_what_asterisk_would(validator: Any) -> None:
    spec = shipped_spec()
    good: dict[str, Any] = {
        "type": "PlaybackStarted", "timestamp": "2026-11-21T21:11:04.541+0000",
        "application": "payivr", "asterisk_id": "02:fc:00:00:00:01",
        "playback": {"id": "p", "media_uri": "sound:beep", "target_uri": "channel:c",
                     "language": "en", "state": "playing"},
    }
    assert spec.validate_model("Message", good) == []
    missing = {k: v for k, v in good.items() if k != "application"}
    assert spec.validate_model("Message", missing) == ["Message: missing required field application"]
    extra = {**good, "surprise": 1}
    assert spec.validate_model("Message", extra) == ["Message: undocumented field surprise"]
    bad_state = json.loads(json.dumps(good))
    bad_state["playback"]["state"] = "paused"
    assert spec.validate_model("Message", bad_state) == [
        "Message.playback.state: 'paused' not allowed"]
    assert spec.validate_model("Message", {**good, "type": "Nope"}) == [
        "Message: unknown type 'Nope'"]
    assert spec.validate_model("Message", {**good, "timestamp": "yesterday"}) != []
