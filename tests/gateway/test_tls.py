"""TLS is verified every time; plain HTTP is refused outright."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from _gateway_helpers import SECRET, Keys, MakeClient, Pki, buffers, card

from payivr.gateway import Approved, Error, GatewayConfigError, HttpGatewayConfig, Unknown
from payivr.gateway.pki import TlsFiles
from payivr.gateway.sandbox import RunningSandbox, start_sandbox

TLS_REFUSED = Error("the payment service's TLS certificate could not be verified", retryable=False)


@asynccontextmanager
async def serving(
    keys: Keys, tls: TlsFiles | None, **options: object
) -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(
        "127.0.0.1", 0, keys.private_pem, signing_secret=SECRET, tls=tls, **options
    )
    try:
        yield running
    finally:
        await running.close()


@pytest.mark.parametrize("certificate", ["untrusted", "expired", "wrong_host"])
async def test_bad_certificates_are_refused_before_anything_is_sent(
    keys: Keys, pki: Pki, make_client: MakeClient, certificate: str
):
    async with serving(keys, getattr(pki, certificate)) as impostor:
        details = card("4242424242424242")
        result = await make_client(url=impostor.url).sale(details, 100, "GBP", "tls-1")

        assert result == TLS_REFUSED
        assert impostor.processor.arrivals == []
        assert all(buffer.wiped for buffer in buffers(details))


def test_plain_http_is_a_configuration_error(keys: Keys):
    for url in ("http://localhost:8443", "localhost:8443", "ftp://x", "https://"):
        with pytest.raises(GatewayConfigError, match="https"):
            HttpGatewayConfig.from_values(
                url=url, public_key=keys.public_jwk, signing_secret=SECRET
            )


async def test_a_plain_http_server_behind_an_https_url_is_refused(
    keys: Keys, make_client: MakeClient
):
    async with serving(keys, None) as plain:
        assert plain.url.startswith("http://")
        result = await make_client(url=plain.url.replace("http://", "https://")).sale(
            card("4242424242424242"), 100, "GBP", "tls-2"
        )
        assert isinstance(result, Error)
        assert plain.processor.arrivals == []


async def test_mutual_tls(keys: Keys, pki: Pki, make_client: MakeClient):
    async with serving(keys, pki.good, client_ca_file=pki.ca_file) as strict:
        anonymous = make_client(url=strict.url)
        # TLS 1.3 asks for the client certificate after the client has sent its request,
        # so a refusal looks like a dropped connection: the probe at start catches it.
        assert isinstance(await anonymous.check(), Error)
        blind = await anonymous.sale(card("4242424242424242"), 100, "GBP", "mtls-1")
        assert isinstance(blind, Error | Unknown)
        with_cert = make_client(
            url=strict.url, client_cert=pki.client_cert, client_key=pki.client_key
        )
        result = await with_cert.sale(card("4242424242424242"), 100, "GBP", "mtls-2")
        assert isinstance(result, Approved)
        assert await with_cert.check() is None
        assert strict.processor.ledger.charges() == 1


def test_missing_tls_files_are_configuration_errors(keys: Keys, tmp_path):
    with pytest.raises(GatewayConfigError, match="ca_bundle"):
        HttpGatewayConfig.from_values(
            url="https://gw.example",
            public_key=keys.public_jwk,
            signing_secret=SECRET,
            ca_bundle=tmp_path / "nope.pem",
        )
    with pytest.raises(GatewayConfigError, match="signing secret"):
        HttpGatewayConfig.from_values(
            url="https://gw.example", public_key=keys.public_jwk, signing_secret="short"
        )
    with pytest.raises(GatewayConfigError, match="public key"):
        HttpGatewayConfig.from_values(
            url="https://gw.example", public_key=tmp_path / "none.jwk", signing_secret=SECRET
        )
