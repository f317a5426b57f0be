"""``payivr demo``: the whole product on one machine, or the caller's side in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from payivr.cli import fail, running_payivr, stop_signals
from payivr.config import Config, ConfigError

DEMO_AGENTS = (("alice", "PJSIP/1001", "agent"), ("sam", None, "supervisor"))
DEMO_CAMPAIGNS = (
    "collections | Acme Collections <+15550199> | 00:00-24:00 | daily",
    "office-hours | Acme <+15550198> | 09:00-17:00 | mon-fri",
)


@dataclass(frozen=True)
class DemoFiles:
    sounds: Path
    dialplan: str
    gateway_keys: Path


def prepare_demo_files() -> DemoFiles:
    """The checkout's sounds and dialplan, and the demo gateway's keys (made once)."""
    from payivr.gateway.pki import write_test_tls
    from payivr.gateway.sandbox import keygen
    from payivr.store.embedded import default_data_dir

    root = Path(__file__).resolve().parents[2]
    keys_dir = default_data_dir().parent / "demo" / "gateway"
    if not (keys_dir / "gateway-private.pem").is_file():
        keygen(keys_dir, overwrite=True)
    write_test_tls(keys_dir)
    dialplan = (root / "dialplan" / "payivr.conf").read_text("utf-8")
    return DemoFiles(root / "sounds", dialplan, keys_dir)


async def demo(args: argparse.Namespace, config: Config, files: DemoFiles) -> int:
    """The whole product on one machine: simulated Asterisk (ARI + AMI), the TLS sandbox
    gateway, embedded PostgreSQL, payivr with its console, demo phones and a CRM inbox."""
    import json
    import secrets

    from aiohttp import web

    from payivr.console.accounts import AccountError, add_agent, set_agent_password
    from payivr.console.passwords import generate_password
    from payivr.demo.phones import CrmInbox, DemoPhones
    from payivr.demo.texts import (
        DEMO_CUSTOMER,
        DEMO_MOBILE,
        demo_mobile,
        enable_demo_texting,
        keep_demo_card,
    )
    from payivr.gateway.sandbox import read_secret, start_sandbox
    from payivr.log import configure_logging
    from payivr.sim.ami.ari_pbx import AriSimulatorPbx
    from payivr.sim.ami.server import AmiSimulator
    from payivr.sim.ari import AriSimulator
    from payivr.standard_webhooks import new_secret

    stop = stop_signals()
    configure_logging("WARNING", json=False)
    for name, listen in (
        ("--console-listen", args.console_listen),
        ("--phones-listen", args.phones_listen),
    ):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            return fail(f"{name} {listen!r} is not HOST:PORT")
    keys_dir = files.gateway_keys
    signing_secret = read_secret(keys_dir / "signing-secret")
    async with contextlib.AsyncExitStack() as stack:
        ari_password = secrets.token_urlsafe(16)
        sim = AriSimulator("payivr", ari_password)
        sim.mount_sounds("payivr", files.sounds)
        sim.dialplan.load(files.dialplan)
        sim_url = await sim.start()
        stack.push_async_callback(sim.stop)
        pbx = AriSimulatorPbx(sim)
        ami_secret = secrets.token_urlsafe(16)
        ami = AmiSimulator(pbx, users={"payivr": ami_secret})
        await ami.start()
        stack.push_async_callback(ami.close)
        sandbox = await start_sandbox(
            "127.0.0.1",
            0,
            keys_dir / "gateway-private.pem",
            signing_secret=read_secret(keys_dir / "signing-secret"),
            tls=keys_dir,
        )
        stack.push_async_callback(sandbox.close)

        crm = CrmInbox(new_secret())
        phones = DemoPhones(sim, files.sounds, crm)
        phones_runner = web.AppRunner(phones.app(), access_log=None)
        await phones_runner.setup()
        phones_host, _, phones_port = args.phones_listen.rpartition(":")
        await web.TCPSite(phones_runner, phones_host, int(phones_port)).start()
        stack.push_async_callback(phones_runner.cleanup)
        bound = phones_runner.addresses[0]
        phones_url = f"http://{bound[0]}:{bound[1]}"

        config.ari.url, config.ari.password = sim_url, ari_password
        config.ami.enabled, config.ami.host, config.ami.port = True, "127.0.0.1", ami.port
        config.ami.secret = ami_secret
        config.gateway.url = sandbox.url
        config.gateway.public_key = str(keys_dir / "gateway-public.pem")
        config.gateway.signing_secret = signing_secret
        config.gateway.ca_bundle = str(sandbox.ca_file)
        config.crm.webhook_url = f"{phones_url}/crm/activities"
        config.crm.webhook_secret = crm.secret
        config.console.listen = args.console_listen
        config.console.metrics_token = config.console.metrics_token or secrets.token_urlsafe(32)
        enable_demo_texting(config.sms)
        # Outbound calls: the trunk's number DEMO_MOBILE rings the customer's demo phone.
        config.outbound.enabled = True
        config.outbound.campaigns = DEMO_CAMPAIGNS
        sim.reach_phone_at(phones.customer, f"PJSIP/{DEMO_MOBILE}@trunk")
        try:
            config.validate()
        except ConfigError as error:
            return fail(error)
        running = await stack.enter_async_context(running_payivr(config))
        logins = {}
        for name, endpoint, role in DEMO_AGENTS:
            password = generate_password()
            try:
                await add_agent(running.database, name, endpoint, role, password)
            except AccountError:
                await set_agent_password(running.database, name, password)
            logins[name] = password
        assert running.sms is not None
        card_on_file = await keep_demo_card(running.sms)
        phones.mobile = demo_mobile(running.sms)
        ready = {
            "console": running.console_url,
            "phones": phones_url,
            "crm": f"{phones_url}/crm",
            "logins": logins,
            "metrics_token": config.console.metrics_token,
        }
        print(
            f"""
payivr demo is running (Ctrl-C stops everything).

  Agent console   {running.console_url}
                  agent:      alice / {logins["alice"]}   (softphone PJSIP/1001)
                  supervisor: sam / {logins["sam"]}
  Demo phones     {phones_url}
  CRM inbox       {phones_url}/crm
  Metrics         {running.console_url}/metrics
                  (Authorization: Bearer {config.console.metrics_token})

1. Open the phones page and click "Customer calls the agent".
2. Sign in to the console as alice: the call shows up. Fill in Request payment and send it
   (or press *7 on the agent's phone first).
3. Key the card on the customer's keypad: 1 to accept the amount, 4242424242424242 #, 1,
   an expiry such as 1230, 1, a security code such as 123, 1, a zip such as 90210 #, 1.
4. Watch the console fill in, hear the outcome, and see the activity in the CRM inbox.

Pay by text and reminders: in the console's Texts view use customer {DEMO_CUSTOMER}, mobile
{DEMO_MOBILE} (a {card_on_file} on file). The customer's texts show on the phones page;
reply YES to pay, anything else to decline, STOP to opt out. A reminder with "Send now"
arrives at once. Bank account: choose "Bank account (ACH)" under Pay by, then key routing
number 110000000, 1, account 000123456789 #, 1, 1 (checking), 1.

Outbound call: in the console's "Call a customer", call {DEMO_MOBILE} (campaign
collections). The agent's phone rings and picks up, then the customer's phone rings on the
phones page: Answer (then Request payment as above), Let voicemail answer, Busy, Out of
service, or let it ring (no answer). Campaign office-hours refuses calls outside 09:00-17:00
Mon-Fri in the customer's time zone.
""",
            flush=True,
        )
        if args.ready_file:
            await asyncio.to_thread(args.ready_file.write_text, json.dumps(ready), "utf-8")
        await stop.wait()
    print("payivr demo stopped.")
    return 0


async def terminal_demo(args: argparse.Namespace, config: Config) -> int:
    import dataclasses

    from payivr.calls.charging import gateway_authorizer
    from payivr.demo.terminal import run_terminal_rehearsal
    from payivr.gateway.inprocess import InProcessGateway
    from payivr.log import configure_logging

    configure_logging("WARNING", json=False)
    try:
        config.validate(("flow",))
        flow_config = dataclasses.replace(
            config.flow.flow_config(), no_input_timeout=args.no_input_timeout
        )
    except (ConfigError, ValueError) as error:
        return fail(error)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    stop = stop_signals("the rehearsal ends")

    async def next_line() -> str:
        """The next line typed, or "" (the end of input) once Ctrl-C is pressed."""
        reading = asyncio.ensure_future(reader.readline())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not reading.done():
            reading.cancel()
            return ""
        return reading.result().decode("utf-8", "replace")

    await run_terminal_rehearsal(
        lambda: asyncio.ensure_future(next_line()),
        sys.stdout,
        gateway_authorizer(InProcessGateway()),
        flow_config,
        args.amount,
        args.currency,
        args.item,
        datetime.now(UTC).date(),
    )
    return 0
