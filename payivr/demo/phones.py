"""The demo's phones and CRM inbox, served as one small web page next to the console.

The page drives the ARI simulator's phones: the customer's keypad, the agent's softphone
(with ``*7``), a button that places the customer's call to the agent, and hang-up buttons.
It shows what each phone hears as words and plays payivr's prompt recordings; it never
shows the digits a phone keyed (a count at most). With texting on, the customer's phone
also shows the texts its mobile receives and sends replies (YES, STOP...). The CRM inbox
lists the activities payivr posted to it, as a CRM would receive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from payivr.core.prompts import PROMPT_TEXTS
from payivr.sim.ari import AriSimulator
from payivr.sim.ari.phones import PhoneError, SimPhone
from payivr.sim.sms import SimulatedPhone
from payivr.store.webhook import InvalidSignature, verify

log = structlog.get_logger(__name__)

STATIC = resources.files("payivr.demo") / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; media-src 'self'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
KEYS = set("0123456789*#")
MAX_TEXT_LENGTH = 320


def describe_media(uri: str) -> dict[str, str]:
    """One thing a phone heard, as words (and the recording to play, for prompts)."""
    scheme, _, value = uri.partition(":")
    if scheme == "sound" and value.startswith("payivr/"):
        _, language, prompt = value.split("/", 2)
        text = PROMPT_TEXTS.get(language, {}).get(prompt, prompt)
        return {"text": text, "audio": f"/sounds/{language}/{prompt}.wav"}
    if scheme == "number":
        return {"text": value}
    if scheme in ("digits", "characters"):
        return {"text": " ".join(value)}
    if scheme == "moh":
        return {"text": "♪ music on hold ♪"}
    return {"text": uri}


@dataclass
class CrmInbox:
    secret: str
    activities: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self.secret, dict(request.headers), body)
        except InvalidSignature:
            return web.json_response({"error": "bad signature"}, status=401)
        payload = json.loads(body)
        activity = dict(payload.get("data", {}))
        activity["webhook-id"] = request.headers.get("webhook-id", "")
        self.activities.append(activity)
        log.info("demo_crm_activity_received", transaction=activity.get("Transaction ID"))
        return web.Response(status=204)


class DemoPhones:
    def __init__(self, sim: AriSimulator, sounds_dir: Path, crm: CrmInbox) -> None:
        self.sim = sim
        # The customer picks up (or not) from the page when payivr calls them (outbound).
        self.customer = sim.add_phone("customer", endpoint="PJSIP/1002", auto_answer=False)
        self.agent = sim.add_phone("agent", endpoint="PJSIP/1001")
        self.sounds_dir = sounds_dir
        self.crm = crm
        self.mobile: SimulatedPhone | None = None  # the customer's texts, once texting is on
        self._presses: set[asyncio.Task[None]] = set()
        self._replies: set[asyncio.Task[None]] = set()

    def phone(self, name: str) -> SimPhone:
        if name == "customer":
            return self.customer
        if name == "agent":
            return self.agent
        raise web.HTTPNotFound(text="no such phone")

    def state(self) -> dict[str, Any]:
        def of(phone: SimPhone) -> dict[str, Any]:
            return {
                "in_call": phone.in_call,
                "ringing": phone.ringing,
                "heard": [describe_media(uri) for uri in phone.heard],
                "keys_received": len(phone.received_dtmf),
            }

        texts = None
        if self.mobile is not None:
            texts = {
                "number": self.mobile.number,
                "thread": [{"direction": t.direction, "body": t.body} for t in self.mobile.thread],
            }
        return {
            "customer": of(self.customer),
            "agent": of(self.agent),
            "crm": self.crm.activities,
            "texts": texts,
        }

    async def act(self, message: dict[str, Any]) -> str | None:
        """Do what the page asked; returns an error text for the page, or None."""
        action = message.get("action")
        try:
            if action == "call":
                if self.customer.channel is not None or self.agent.channel is not None:
                    return "hang up both phones first"
                await self.sim.dial(self.customer, self.agent)
            elif action == "press":
                keys = str(message.get("keys", ""))
                if not keys or not set(keys) <= KEYS or len(keys) > 2:
                    return "unknown key"
                phone = self.phone(str(message.get("phone")))
                pressing = asyncio.create_task(phone.press(keys, duration_ms=80, gap_ms=60))
                self._presses.add(pressing)
                pressing.add_done_callback(self._presses.discard)
            elif action == "hangup":
                await self.phone(str(message.get("phone"))).hangup()
            elif action in ("answer", "voicemail"):
                # A person picks up, or the phone lets its voicemail greeting answer (AMD).
                self.customer.answering_machine = action == "voicemail"
                await self.customer.answer()
            elif action == "refuse":
                status = {"busy": 486, "unreachable": 404}.get(str(message.get("as")))
                if status is None:
                    return "unknown refusal"
                await self.customer.refuse(status)
            elif action == "text":
                body = str(message.get("body", "")).strip()
                if self.mobile is None:
                    return "texting is off"
                if not body or len(body) > MAX_TEXT_LENGTH:
                    return f"a text has 1 to {MAX_TEXT_LENGTH} characters"
                texting = asyncio.create_task(self._text(self.mobile, body))
                self._replies.add(texting)
                texting.add_done_callback(self._replies.discard)
            else:
                return "unknown action"
        except PhoneError as error:
            return str(error)
        return None

    @staticmethod
    async def _text(mobile: SimulatedPhone, body: str) -> None:
        """The reply goes to payivr through the carrier, which then reports the texts
        this phone received as delivered."""
        try:
            await mobile.reply(body)
            await mobile.carrier.flush_reports()
        except Exception:  # the page shows the thread; payivr logs what went wrong
            log.exception("demo_text_failed")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers])
        app.router.add_get("/", self._page("phones.html"))
        app.router.add_get("/crm", self._page("crm.html"))
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/sounds/{language}/{prompt}.wav", self._sound)
        app.router.add_get("/ws", self._socket)
        app.router.add_post("/crm/activities", self.crm.receive)
        return app

    def _page(self, name: str) -> Any:
        async def page(_: web.Request) -> web.Response:
            return web.Response(text=(STATIC / name).read_text("utf-8"), content_type="text/html")

        return page

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        types = {".js": "text/javascript", ".css": "text/css"}
        suffix = Path(name).suffix
        if suffix not in types or "/" in name or name.startswith("."):
            raise web.HTTPNotFound()
        resource = STATIC / name
        if not resource.is_file():
            raise web.HTTPNotFound()
        return web.Response(text=resource.read_text("utf-8"), content_type=types[suffix])

    async def _sound(self, request: web.Request) -> web.FileResponse:
        language, prompt = request.match_info["language"], request.match_info["prompt"]
        if language not in PROMPT_TEXTS or prompt not in PROMPT_TEXTS[language]:
            raise web.HTTPNotFound()
        return web.FileResponse(self.sounds_dir / language / f"{prompt}.wav")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        sender = asyncio.create_task(self._send_states(socket))
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    error = await self.act(data)
                    if error:
                        await socket.send_json({"error": error})
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return socket

    async def _send_states(self, socket: web.WebSocketResponse) -> None:
        last = ""
        while not socket.closed:
            state = json.dumps(self.state())
            if state != last:
                await socket.send_str(state)
                last = state
            await asyncio.sleep(0.15)


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
