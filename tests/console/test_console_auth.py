"""Signing in, lockout, sessions, CSRF, browser protections, TLS, and the CLI account functions."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from ipaddress import ip_network
from pathlib import Path

import aiohttp
import pytest
from _console_helpers import ALICE, BOB, PASSWORD, SAM, Client, Console

from payivr.calls.notifier import Notifier
from payivr.console import (
    AccountError,
    add_agent,
    add_api_token,
    create_console_app,
    set_agent_password,
    start_console,
)
from payivr.console.accounts import FREE_FAILURES, Accounts, LoginRefused, Role
from payivr.console.passwords import token_digest, verify_password
from payivr.console.security import CONTENT_SECURITY_POLICY, Deployment
from payivr.console.throttle import ATTEMPTS_PER_ADDRESS
from payivr.gateway.pki import write_test_tls
from payivr.store.database import Database
from payivr.store.payments import PaymentStore


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def from_address(console: Console, address: str) -> Client:
    """A client connecting from another loopback address (Linux routes all of 127/8 to lo)."""
    return console_client_from(console.url, address)


async def _login(client: Client, name: str, password: str) -> aiohttp.ClientResponse:
    return await client.post("/api/v1/login", json={"name": name, "password": password})


async def _actions(db: Database, actor: str) -> list[str]:
    return [e.action for e in await PaymentStore(db).list_audit(actor=actor, limit=500)]


# ------------------------------------------------------------------ signing in


async def test_sign_in_sets_a_strict_http_only_session_cookie(console: Console) -> None:
    async with console.client() as client:
        response = await _login(client, ALICE, PASSWORD)
        assert response.status == 200
        body = await response.json()
        assert body["name"] == ALICE
        assert body["role"] == "agent"
        assert body["endpoint"] == "PJSIP/1001"
        assert len(body["csrf_token"]) >= 43
        header = response.headers["Set-Cookie"]
        cookie = SimpleCookie(header)["payivr_session"]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert not cookie["secure"]  # plain HTTP here; see the TLS test
        assert len(cookie.value) >= 43  # 256 bits, URL-safe base64
        me = await client.json("/api/v1/me")
        assert me["csrf_token"] == body["csrf_token"]
    # Only the digest is stored: the cookie value itself is nowhere in the database.
    async with console.db.pool.connection() as conn:
        cursor = await conn.execute("SELECT token_hash, csrf_token FROM console_sessions")
        rows = await cursor.fetchall()
    assert [bytes(row[0]) for row in rows] == [token_digest(cookie.value)]
    assert await _actions(console.db, ALICE) == ["login.ok"]


async def test_wrong_password_and_unknown_names_get_the_same_answer(console: Console) -> None:
    async with console.client() as client:
        wrong = await _login(client, ALICE, "not the password at all")
        unknown = await _login(client, "Nobody Here", "not the password at all")
        odd = await _login(client, "<script>", "not the password at all")
        for response in (wrong, unknown, odd):
            assert response.status == 401
            assert (await response.json())["error"] == {
                "code": "login_failed",
                "message": "wrong name or password",
            }
            assert "Set-Cookie" not in response.headers
        assert (await client.get("/api/v1/me")).status == 401
    assert await _actions(console.db, ALICE) == ["login.failed"]
    assert await _actions(console.db, "Nobody Here") == ["login.failed"]
    assert await _actions(console.db, "unknown") == ["login.failed"]


async def test_failures_slow_down_the_address_that_made_them_not_the_agent(
    console: Console,
) -> None:
    """Issue 13 #9, lockout as a weapon: an attacker's wrong passwords made Bob wait 30 minutes
    wherever he was. Now the attacker's address waits; Bob signs in from his own desk, and
    an unknown name gets exactly the same answers (nothing to enumerate)."""
    async with from_address(console, "127.0.0.2") as attacker, console.client() as bobs_desk:
        for name in (BOB, "Nobody Here"):
            for attempt in range(1, FREE_FAILURES + 1):
                response = await _login(attacker, name, f"wrong password {attempt:02d}")
                assert response.status == 401, attempt
                assert (await response.json())["error"]["code"] == "login_failed"
            waiting = await _login(attacker, name, PASSWORD)
            assert waiting.status == 429
            assert (await waiting.json())["error"] == {
                "code": "too_many_attempts",
                "message": "too many failed sign-ins from here: try again in 30 seconds",
            }
            assert waiting.headers["Retry-After"] == "30"
        assert (await _login(bobs_desk, BOB, PASSWORD)).status == 200  # from 127.0.0.1
    for name in (BOB, "Nobody Here"):
        actions = await _actions(console.db, name)
        assert actions.count("login.failed") == FREE_FAILURES
        assert actions.count("login.throttled") == 1


async def test_an_address_gets_twenty_sign_in_attempts_a_minute(console: Console) -> None:
    """Issue 13 #6: past the limit an address is answered 429 before any database connection
    or hash is spent on it; other addresses sign in as usual."""
    async with from_address(console, "127.0.0.4") as flooder, console.client() as desk:
        for attempt in range(ATTEMPTS_PER_ADDRESS):
            assert (await _login(flooder, "<not a name>", "x")).status == 401, attempt
        refused = await _login(flooder, ALICE, PASSWORD)  # even the right password
        assert refused.status == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert (await _login(desk, ALICE, PASSWORD)).status == 200


async def test_a_supervisor_unlocks_an_account_over_the_api(
    console: Console, alice: Client, sam: Client
) -> None:
    async with from_address(console, "127.0.0.5") as attacker:
        for _ in range(FREE_FAILURES):
            assert (await _login(attacker, BOB, "wrong password 3")).status == 401
        assert (await _login(attacker, BOB, PASSWORD)).status == 429
        bob = BOB.replace(" ", "%20")
        assert (await alice.send(f"/api/v1/agents/{bob}/unlock")).status == 403
        unlocked = await sam.send(f"/api/v1/agents/{bob}/unlock")
        assert unlocked.status == 200
        assert await unlocked.json() == {"name": BOB, "failures_forgotten": FREE_FAILURES}
        assert (await sam.send("/api/v1/agents/Nobody/unlock")).status == 404
        assert (await _login(attacker, BOB, PASSWORD)).status == 200
    assert "account.unlock" in await _actions(console.db, SAM)


async def test_the_wait_doubles_then_a_supervisor_or_the_operator_unlocks(
    database: Database,
) -> None:
    clock = MovableClock()
    accounts = Accounts(database, clock=clock)
    await accounts.add("Carol Agent", "PJSIP/1003", Role.AGENT, PASSWORD)
    for _ in range(FREE_FAILURES):
        with pytest.raises(LoginRefused) as refused:
            await accounts.login("Carol Agent", "wrong password 1", "198.51.100.7")
        assert refused.value.retry_after is None
    waits = []
    for _ in range(3):
        with pytest.raises(LoginRefused) as refused:
            await accounts.login("Carol Agent", PASSWORD, "198.51.100.7")
        assert refused.value.retry_after is not None
        waits.append(refused.value.retry_after)
        clock.now += timedelta(seconds=refused.value.retry_after)
        with pytest.raises(LoginRefused):  # the wait is over, but this guess is wrong too
            await accounts.login("Carol Agent", "wrong password 2", "198.51.100.7")
    assert waits == [30, 60, 120]
    # From another address Carol was never slowed down.
    assert (await accounts.login("Carol Agent", PASSWORD, "203.0.113.9")).account.name
    assert await accounts.unlock("Carol Agent") == FREE_FAILURES + 3
    session = await accounts.login("Carol Agent", PASSWORD, "198.51.100.7")
    assert session.account.name == "Carol Agent"
    assert "token" not in repr(session).replace("<tokens hidden>", "")
    with pytest.raises(AccountError):
        await accounts.unlock("Nobody Here")


async def test_sessions_end_on_logout_after_idle_time_and_on_password_change(
    database: Database,
) -> None:
    clock = MovableClock()
    accounts = Accounts(database, clock=clock, session_idle=timedelta(minutes=15))
    await accounts.add("Dan Agent", "PJSIP/1004", Role.AGENT, PASSWORD)
    first = await accounts.login("Dan Agent", PASSWORD, "127.0.0.1")
    clock.now += timedelta(minutes=14)
    assert await accounts.session(first.token) is not None  # use keeps it alive
    clock.now += timedelta(minutes=14)
    assert await accounts.session(first.token) is not None
    clock.now += timedelta(minutes=16)
    assert await accounts.session(first.token) is None  # idle too long
    second = await accounts.login("Dan Agent", PASSWORD, "127.0.0.1")
    await accounts.logout(second.token)
    assert await accounts.session(second.token) is None
    third = await accounts.login("Dan Agent", PASSWORD, "127.0.0.1")
    await set_agent_password(database, "Dan Agent", "a brand new passphrase 9")
    assert await accounts.session(third.token) is None
    assert await accounts.session("made-up") is None


async def test_a_page_polling_on_its_own_does_not_keep_the_session_alive(
    database: Database,
) -> None:
    clock = MovableClock()
    accounts = Accounts(database, clock=clock, session_idle=timedelta(minutes=15))
    await accounts.add("Jo Agent", "PJSIP/1016", Role.AGENT, PASSWORD)
    session = await accounts.login("Jo Agent", PASSWORD, "127.0.0.1")
    for _ in range(14):
        clock.now += timedelta(minutes=1)
        assert await accounts.session(session.token, activity=False) is not None
    clock.now += timedelta(minutes=1, seconds=1)
    assert await accounts.session(session.token, activity=False) is None


async def test_automatic_requests_are_marked_by_a_header(console: Console, alice: Client) -> None:
    async with console.db.pool.connection() as conn:
        before = await (await conn.execute("SELECT last_seen_at FROM console_sessions")).fetchone()
        marked = await alice.get("/api/v1/calls/current", headers={"X-Payivr-Automatic": "1"})
        assert marked.status == 200
        after = await (await conn.execute("SELECT last_seen_at FROM console_sessions")).fetchone()
        assert before == after
        await alice.get("/api/v1/calls/current")
        touched = await (await conn.execute("SELECT last_seen_at FROM console_sessions")).fetchone()
        assert touched is not None and before is not None and touched[0] > before[0]


async def test_logout_over_http_ends_the_session(console: Console, alice: Client) -> None:
    response = await alice.send("/api/v1/logout")
    assert response.status == 200
    assert (await alice.get("/api/v1/me")).status == 401
    assert "logout" in await _actions(console.db, ALICE)


# ------------------------------------------------------------------ CSRF and origins


async def test_state_changing_requests_need_the_csrf_token(console: Console, alice: Client) -> None:
    await console.calls.place_call("PJSIP/1001")
    body = {"item": "Plan", "amount": "10"}
    missing = await alice.post("/api/v1/payments", json=body)
    wrong = await alice.post("/api/v1/payments", json=body, headers={"X-CSRF-Token": "guess"})
    bob_session = await console.signed_in(BOB)
    async with bob_session:
        someone_elses = await alice.post(
            "/api/v1/payments", json=body, headers={"X-CSRF-Token": bob_session.csrf}
        )
    for response in (missing, wrong, someone_elses):
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "csrf"
    logout = await alice.post("/api/v1/logout")
    assert logout.status == 403
    assert console.calls.calls[next(iter(console.calls.calls))].payment is None
    assert (await alice.get("/api/v1/me")).status == 200  # still signed in


async def test_requests_from_another_sites_page_are_refused(
    console: Console, alice: Client
) -> None:
    await console.calls.place_call("PJSIP/1001")
    response = await alice.post(
        "/api/v1/payments",
        json={"item": "Plan", "amount": "10"},
        headers={"X-CSRF-Token": alice.csrf, "Origin": "https://attacker.example"},
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "cross_origin"
    async with console.client() as client:
        login = await client.post(
            "/api/v1/login",
            json={"name": ALICE, "password": PASSWORD},
            headers={"Origin": "https://attacker.example"},
        )
        assert login.status == 403
        form = await client.post("/api/v1/login", data={"name": ALICE, "password": PASSWORD})
        assert form.status == 415  # a cross-site HTML form cannot send JSON
    same_origin = await alice.post(
        "/api/v1/payments",
        json={"item": "Plan", "amount": "10"},
        headers={"X-CSRF-Token": alice.csrf, "Origin": console.url.rstrip("/")},
    )
    assert same_origin.status == 201


# ------------------------------------------------------------------ browser protections


async def test_every_answer_carries_the_browser_protections(console: Console) -> None:
    async with console.client() as client:
        for path in ("/", "/static/app.js", "/api/v1/me", "/api/v1/nothing", "/healthz"):
            response = await client.get(path)
            headers = response.headers
            assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert "Strict-Transport-Security" not in headers  # only under TLS
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY


def test_the_page_has_no_inline_script_or_style() -> None:
    static = Path(__file__).parents[2] / "payivr" / "console" / "static"
    html = (static / "index.html").read_text()
    assert "<script>" not in html and "<style" not in html and "style=" not in html
    assert " on" + "click=" not in html and "javascript:" not in html
    scripts = sorted(static.glob("*.js"))
    assert {"app.js", "texts.js"} <= {path.name for path in scripts}
    for path in scripts:
        script = path.read_text()
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script, path.name
        assert "eval(" not in script and "document.write" not in script, path.name


async def test_under_tls_cookies_are_secure_and_hsts_is_sent(
    database: Database, tmp_path: Path
) -> None:
    tls = write_test_tls(tmp_path, ("127.0.0.1",))
    await add_agent(database, "Erin Agent", "PJSIP/1005", "agent", PASSWORD)
    from _console_calls import RehearsalCalls

    notifier = Notifier()
    app = create_console_app(
        db=database, calls=RehearsalCalls(PaymentStore(database), notifier), notifier=notifier
    )
    server = await start_console(
        app, "127.0.0.1:0", tls_cert=str(tls.cert_file), tls_key=str(tls.key_file)
    )
    try:
        assert server.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(tls.ca_file))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session:
            response = await session.post(
                f"{server.url}/api/v1/login", json={"name": "Erin Agent", "password": PASSWORD}
            )
            assert response.status == 200
            cookie = SimpleCookie(response.headers["Set-Cookie"])["payivr_session"]
            assert cookie["secure"] is True
            assert cookie["httponly"] is True
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        async with aiohttp.ClientSession() as untrusting:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await untrusting.get(f"{server.url}/healthz")
    finally:
        await server.stop()


# ------------------------------------------------------------------ the CLI functions


async def test_add_agent_checks_what_it_is_given(database: Database) -> None:
    account = await add_agent(database, "Fay Agent", "PJSIP/1006", "agent", PASSWORD)
    assert (account.name, account.endpoint, account.role) == ("Fay Agent", "PJSIP/1006", Role.AGENT)
    boss = await add_agent(database, "Gus Supervisor", None, "supervisor", PASSWORD)
    assert boss.is_supervisor
    problems = {
        ("Short Pw", "PJSIP/1010", "agent", "too short"): "at least 12 characters",
        ("No Digits", "PJSIP/1017", "agent", "letters only, no digits"): "letters and digits",
        ("No Letters", "PJSIP/1018", "agent", "1234 5678 9012 3456"): "letters and digits",
        ("No Phone", None, "agent", PASSWORD): "needs a softphone endpoint",
        ("Bad Phone", "1001", "agent", PASSWORD): "not a softphone endpoint",
        ("Fay Agent", "PJSIP/1011", "agent", PASSWORD): "with this name exists",
        ("Other", "PJSIP/1006", "agent", PASSWORD): "with this endpoint exists",
        ("Agent 1234567", "PJSIP/1012", "agent", PASSWORD): "no long numbers",
        ("<b>x</b>", "PJSIP/1013", "agent", PASSWORD): "must start with a letter",
        ("Hal", "PJSIP/1014", "admin", PASSWORD): "'agent' or 'supervisor'",
    }
    for (name, endpoint, role, password), message in problems.items():
        with pytest.raises(AccountError, match=message):
            await add_agent(database, name, endpoint, role, password)
    async with database.pool.connection() as conn:
        cursor = await conn.execute("SELECT password_hash FROM console_accounts ORDER BY id")
        hashes = [row[0] for row in await cursor.fetchall()]
    assert len(hashes) == 2
    assert all(h.startswith("scrypt$131072$8$1$") for h in hashes)  # OWASP's minimum cost
    assert hashes[0] != hashes[1]  # per-account salt, same password
    assert all(PASSWORD not in h for h in hashes)
    assert verify_password(PASSWORD, hashes[0])
    assert not verify_password(PASSWORD + "x", hashes[0])


async def test_api_tokens_are_stored_as_digests(database: Database) -> None:
    await add_agent(database, "Ivy Agent", "PJSIP/1015", "agent", PASSWORD)
    token = await add_api_token(database, "Ivy Agent", "crm")
    assert token.startswith("pivr_") and len(token) >= 48
    async with database.pool.connection() as conn:
        cursor = await conn.execute("SELECT token_hash FROM console_api_tokens")
        (stored,) = await cursor.fetchall()
    assert bytes(stored[0]) == token_digest(token)
    account = await Accounts(database).account_for_token(token)
    assert account is not None and account.name == "Ivy Agent"
    with pytest.raises(AccountError, match="no account"):
        await add_api_token(database, "Nobody", "crm")


async def test_api_tokens_expire_and_can_be_revoked(database: Database) -> None:
    clock = MovableClock()
    accounts = Accounts(database, clock=clock)
    await accounts.add("Kim Agent", "PJSIP/1019", Role.AGENT, PASSWORD)
    short = await accounts.issue_token("Kim Agent", "wallboard", timedelta(days=1))
    default = await accounts.issue_token("Kim Agent", "crm")
    clock.now += timedelta(days=1, seconds=1)
    assert await accounts.account_for_token(short) is None  # expired
    assert await accounts.account_for_token(default) is not None
    clock.now += timedelta(days=89)
    assert await accounts.account_for_token(default) is None  # 90 days by default
    kept = await accounts.issue_token("Kim Agent", "crm")
    other = await accounts.issue_token("Kim Agent", "wallboard")
    assert await accounts.revoke_tokens("Kim Agent", "crm") == 1
    assert await accounts.account_for_token(kept) is None
    assert await accounts.account_for_token(other) is not None
    await accounts.disable("Kim Agent")
    assert await accounts.account_for_token(other) is None
    with pytest.raises(AccountError, match="1 to 366 days"):
        await accounts.issue_token("Kim Agent", "forever", timedelta(days=3650))


async def test_the_supervisor_account_can_sign_in_without_an_endpoint(console: Console) -> None:
    async with await console.signed_in(SAM) as sam:
        me = await sam.json("/api/v1/me")
        assert (me["role"], me["endpoint"]) == ("supervisor", None)
        assert (await sam.json("/api/v1/calls/current"))["call"] is None
        response = await sam.send("/api/v1/payments", {"item": "Plan", "amount": "1"})
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "no_endpoint"


async def test_behind_a_tls_proxy_cookies_stay_secure_and_forwarded_addresses_are_checked(
    database: Database,
) -> None:
    """Issue 13 hardening: behind a proxy ending TLS payivr saw plain HTTP, so the session
    cookie lost Secure (a browser would send it over http://), the page's real Origin
    (https://pay.example.com) was refused, and any client could pick its address for the
    sign-in limits with X-Forwarded-For. With console.public_url and trusted_proxies set:"""
    from _console_calls import RehearsalCalls

    await add_agent(database, "Lou Agent", "PJSIP/1020", "agent", PASSWORD)
    notifier = Notifier()
    app = create_console_app(
        db=database,
        calls=RehearsalCalls(PaymentStore(database), notifier),
        notifier=notifier,
        deployment=Deployment("https://pay.example.com", (ip_network("127.0.0.1/32"),)),
    )
    server = await start_console(app, "127.0.0.1:0")  # plain HTTP behind the "proxy"
    public = {"Origin": "https://pay.example.com"}
    try:
        async with Client.plain(server.url) as proxy:
            login = await proxy.post(
                "/api/v1/login",
                json={"name": "Lou Agent", "password": PASSWORD},
                headers={**public, "X-Forwarded-For": "203.0.113.50"},
            )
            assert login.status == 200
            cookie = SimpleCookie(login.headers["Set-Cookie"])["payivr_session"]
            assert cookie["secure"] is True
            assert login.headers["Strict-Transport-Security"].startswith("max-age=")
            # What the proxy passes on from the browser (the jar keeps Secure cookies off http).
            signed_in = {
                "X-CSRF-Token": (await login.json())["csrf_token"],
                "Cookie": f"payivr_session={cookie.value}",
            }
            internal = await proxy.post(
                "/api/v1/logout", headers={**signed_in, "Origin": server.url}
            )
            assert internal.status == 403  # not the origin browsers use
            assert (await proxy.post("/api/v1/logout", headers={**signed_in, **public})).status == 200
        async with console_client_from(server.url, "127.0.0.6") as untrusted:
            for attempt in range(ATTEMPTS_PER_ADDRESS):
                spoofed = {"X-Forwarded-For": f"198.51.100.{attempt}", **public}
                answer = await untrusted.post(
                    "/api/v1/login", json={"name": "<x>", "password": "x"}, headers=spoofed
                )
                assert answer.status == 401
            answer = await untrusted.post(
                "/api/v1/login",
                json={"name": "<x>", "password": "x"},
                headers={"X-Forwarded-For": "198.51.100.99", **public},
            )
            assert answer.status == 429  # its own address counted, whatever it claimed
    finally:
        await server.stop()
    audit = await PaymentStore(database).list_audit(limit=500)
    origins = {event.origin.value for event in audit}
    assert "203.0.113.50" in origins and "127.0.0.6" in origins
    assert not any(origin.startswith("198.51.100.") for origin in origins)


def console_client_from(url: str, address: str) -> Client:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return Client(aiohttp.ClientSession(base_url=url, connector=connector))
