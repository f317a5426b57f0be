"""check_api() fails with a distinct, actionable error for each way ARI can be unusable."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from payivr.ari import errors, operations
from payivr.ari.client import AriClient

from .fakeari import FIXTURES, PASSWORD, USER, FakeAri


async def test_asterisk_22_api_docs_pass(fake: FakeAri, ari: AriClient) -> None:
    await ari.check_api()
    assert "/api-docs/resources.json" in fake.paths()
    assert "/asterisk/ping" in fake.paths()


async def test_unreachable_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}", USER, PASSWORD) as client:
        with pytest.raises(errors.AriUnreachable) as info:
            await client.check_api()
    assert f"http://127.0.0.1:{port}/ari" in str(info.value)
    assert "unreachable" in str(info.value)


async def test_disabled_ari_is_its_own_error(fake: FakeAri) -> None:
    async with AriClient(f"{fake.url}/not-ari-here", USER, PASSWORD) as client:
        with pytest.raises(errors.AriDisabled) as info:
            await client.check_api()
    assert "not enabled" in str(info.value) and "ari.conf" in str(info.value)


async def test_bad_credentials_name_the_user_not_the_password(fake: FakeAri) -> None:
    async with AriClient(fake.url, USER, "guessed-wrong") as client:
        with pytest.raises(errors.BadCredentials) as info:
            await client.check_api()
    assert USER in str(info.value) and "guessed-wrong" not in str(info.value)


async def test_bad_credentials_found_even_if_api_docs_are_public(fake: FakeAri) -> None:
    fake.check_auth = False
    async with AriClient(fake.url, USER, "guessed-wrong") as client:
        fake.routes[("GET", "/asterisk/ping")] = (401, {"error": "Authentication required"})
        with pytest.raises(errors.BadCredentials):
            await client.check_api()


def older_docs(tmp_path: Path, edit) -> Path:
    docs = tmp_path / "api-docs"
    shutil.copytree(FIXTURES / "api-docs", docs)
    edit(docs)
    return docs


def drop_absorb_dtmf_and_ping(docs: Path) -> None:
    bridges = json.loads((docs / "bridges.json").read_text())
    for api in bridges["apis"]:
        for op in api["operations"]:
            op["parameters"] = [p for p in op.get("parameters", []) if p["name"] != "absorbDTMF"]
    (docs / "bridges.json").write_text(json.dumps(bridges))
    asterisk = json.loads((docs / "asterisk.json").read_text())
    asterisk["apis"] = [a for a in asterisk["apis"] if a["path"] != "/asterisk/ping"]
    (docs / "asterisk.json").write_text(json.dumps(asterisk))


def drop_playbacks_resource(docs: Path) -> None:
    resources = json.loads((docs / "resources.json").read_text())
    resources["apis"] = [a for a in resources["apis"] if "playbacks" not in a["path"]]
    (docs / "resources.json").write_text(json.dumps(resources))


async def test_missing_parameter_and_operation_are_named(tmp_path: Path, fake: FakeAri,
                                                         ari: AriClient) -> None:
    fake.api_docs = older_docs(tmp_path, drop_absorb_dtmf_and_ping)
    with pytest.raises(errors.IncompatibleAsterisk) as info:
        await ari.check_api()
    message = str(info.value)
    assert "POST /bridges/{bridgeId}/addChannel parameter absorbDTMF" in message
    assert "GET /asterisk/ping" in message
    assert "apiVersion 10.0.0" in message


async def test_missing_resource_is_named(tmp_path: Path, fake: FakeAri, ari: AriClient) -> None:
    fake.api_docs = older_docs(tmp_path, drop_playbacks_resource)
    with pytest.raises(errors.IncompatibleAsterisk, match="resource playbacks"):
        await ari.check_api()


async def test_the_four_failures_are_distinct_classes() -> None:
    kinds = {errors.AriUnreachable, errors.AriDisabled, errors.BadCredentials,
             errors.IncompatibleAsterisk}
    assert all(issubclass(k, errors.StartupError) for k in kinds)
    assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)


def drop_ring(docs: Path) -> None:
    channels = json.loads((docs / "channels.json").read_text())
    channels["apis"] = [a for a in channels["apis"] if a["path"] != "/channels/{channelId}/ring"]
    (docs / "channels.json").write_text(json.dumps(channels))


async def test_what_the_client_calls_is_what_the_start_up_checks(
    tmp_path: Path, fake: FakeAri, ari: AriClient
) -> None:
    """The check is derived from the client's operations: an Asterisk without the ring the
    outbound dialer uses is refused at start (the hand-written list had left it out)."""
    fake.api_docs = older_docs(tmp_path, drop_ring)
    with pytest.raises(errors.IncompatibleAsterisk) as info:
        await ari.check_api()
    assert "POST /channels/{channelId}/ring" in str(info.value)
    assert "DELETE /channels/{channelId}/ring" in str(info.value)


async def test_a_parameter_no_operation_declares_is_never_sent(
    fake: FakeAri, ari: AriClient
) -> None:
    with pytest.raises(ValueError, match=r"POST /channels/\{channelId\}/ring has no parameter"):
        await ari.send(operations.CHANNEL_RING, "chan-1", params={"ringtone": "x"})
    assert "/channels/chan-1/ring" not in fake.paths()
