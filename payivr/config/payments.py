"""How payments are taken: the caller's flow, calls, pay by text and reminders, outbound
calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from payivr.config.checks import cleartext_problems
from payivr.core.campaigns import CampaignError, parse_campaign
from payivr.core.cards import Brand
from payivr.core.events import PaymentMethod
from payivr.core.flow import FlowConfig
from payivr.core.prompts import CURRENCIES, LANGUAGES
from payivr.core.reminders import ReminderPolicy
from payivr.core.request import PrivacyMode


@dataclass
class FlowSettings:
    accepted_brands: tuple[str, ...] = tuple(brand.value for brand in Brand)
    ask_security_code: bool = True
    ask_postal_code: bool = True
    max_attempts: int = 3
    no_input_timeout: float = 60.0
    inter_digit_timeout: float = 5.0
    postal_code_lengths: tuple[int, ...] = (5, 9)
    currency: str = "USD"
    max_amount_minor: int = 1_000_000
    offer_card_on_file: bool = False
    accepted_methods: tuple[str, ...] = tuple(method.value for method in PaymentMethod)
    decline_retries: int = 2  # more tries after a declined card (another card or a field)

    def problems(self) -> list[str]:
        found = []
        methods = {method.value for method in PaymentMethod}
        odd = [name for name in self.accepted_methods if name not in methods]
        if odd:
            found.append(f"flow.accepted_methods: unknown {odd}; known: {sorted(methods)}")
        known = {brand.value for brand in Brand}
        unknown = [name for name in self.accepted_brands if name not in known]
        if unknown:
            found.append(f"flow.accepted_brands: unknown {unknown}; known: {sorted(known)}")
        if self.currency not in CURRENCIES:
            found.append(f"flow.currency: {self.currency!r} is not one of {sorted(CURRENCIES)}")
        if self.max_amount_minor <= 0:
            found.append("flow.max_amount_minor: must be positive")
        if not unknown and not odd:
            try:
                self.flow_config()
            except ValueError as error:
                found.append(f"flow: {error}")
        return found

    def flow_config(self) -> FlowConfig:
        return FlowConfig(
            accepted_brands=frozenset(Brand(name) for name in self.accepted_brands),
            ask_security_code=self.ask_security_code,
            ask_postal_code=self.ask_postal_code,
            max_attempts=self.max_attempts,
            no_input_timeout=self.no_input_timeout,
            inter_digit_timeout=self.inter_digit_timeout,
            postal_code_lengths=frozenset(self.postal_code_lengths),
            offer_card_on_file=self.offer_card_on_file,
            accepted_methods=frozenset(PaymentMethod(name) for name in self.accepted_methods),
            decline_retries=self.decline_retries,
        )


@dataclass
class CallSettings:
    privacy_mode: str = PrivacyMode.HOLD.value  # see .privacy
    # false: no payment in talk-through, whoever asks (the agent is on hold for every one)
    allow_talk_through: bool = True
    # Channel technologies (e.g. Local) whose callers may pay in talk-through although
    # payivr cannot read their DTMF mode: the operator vouches that their keys reach
    # Asterisk as events (a queue's Local channels in front of RFC 4733 trunks). Empty: a
    # caller whose mode is not rfc4733/info pays on hold.
    talk_through_unchecked_technologies: tuple[str, ...] = ()
    music_on_hold_class: str = "default"  # empty: silence instead of music
    language: str = "en"
    after_agent_hangup: str = "hangup"  # or "continue": back to the dialplan
    continue_context: str = "payivr-after"
    # How often payments of unknown outcome (the gateway did not answer, or payivr stopped
    # while charging) are asked about again, by idempotency key.
    reconcile_interval: float = 60.0
    # Warm transfer without an amount: how long the caller holds while the transferring
    # agent's console asks for item and amount, before going back to the agent.
    transfer_request_timeout: float = 60.0

    @property
    def privacy(self) -> PrivacyMode:
        """``privacy_mode`` as the mode it names (once :meth:`problems` found none)."""
        return PrivacyMode(self.privacy_mode)

    def problems(self) -> list[str]:
        found = []
        if not self.reconcile_interval > 0:
            found.append("calls.reconcile_interval: must be a positive number of seconds")
        if not self.transfer_request_timeout > 0:
            found.append("calls.transfer_request_timeout: must be a positive number of seconds")
        modes = [mode.value for mode in PrivacyMode]
        if self.privacy_mode not in modes:
            found.append(f"calls.privacy_mode: {self.privacy_mode!r} is not one of {modes}")
        if self.language not in LANGUAGES:
            found.append(f"calls.language: {self.language!r} is not one of {LANGUAGES}")
        if self.after_agent_hangup not in ("hangup", "continue"):
            found.append("calls.after_agent_hangup: must be 'hangup' or 'continue'")
        for technology in self.talk_through_unchecked_technologies:
            if not technology or not technology.isalnum():
                found.append(
                    "calls.talk_through_unchecked_technologies: channel technologies such as"
                    f" Local, not {technology!r}"
                )
        if self.privacy_mode == PrivacyMode.TALK_THROUGH.value and not self.allow_talk_through:
            found.append("calls.privacy_mode: talk-through, but calls.allow_talk_through is false")
        return found


SMS_PROVIDERS = ("http", "simulator")


@dataclass
class SmsOptions:
    """Everything ``[sms]`` configures (defaults are the shipped ones). Not frozen: the
    configuration loader fills it in setting by setting."""

    provider: str = "simulator"
    url: str = ""
    token: str = ""
    sender: str = ""
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300
    business_name: str = ""
    request_ttl_minutes: int = 1440
    reminder_window_days: int = 7
    reminder_lead_days: int = 1
    reminder_daily_cap: int = 1000
    send_from: str = "09:00"
    send_until: str = "20:00"
    time_zone: str = "UTC"
    poll_seconds: float = 5.0

    def problems(self) -> list[str]:
        """What is wrong, in words for whoever edits the configuration."""
        found = []
        if self.provider not in SMS_PROVIDERS:
            found.append(f"sms.provider must be one of {', '.join(SMS_PROVIDERS)}")
        if self.provider == "http":
            if not self.url.startswith(("https://", "http://")):
                found.append("sms.url must be the provider's https:// URL for sending")
            if not self.token:
                found.append("sms.token (the provider's API token) is required")
            if not self.webhook_secret.startswith("whsec_"):
                found.append(
                    "sms.webhook_secret must be the whsec_ secret the provider signs webhooks with"
                )
        if not 60 <= self.webhook_tolerance_seconds <= 3600:
            found.append("sms.webhook_tolerance_seconds must be 60 to 3600")
        if not 5 <= self.request_ttl_minutes <= 7 * 1440:
            found.append("sms.request_ttl_minutes must be 5 to 10080 (a week)")
        if len(self.business_name) > 40:
            found.append("sms.business_name must be at most 40 characters")
        try:
            self.policy()
        except ValueError as error:
            found.append(f"sms reminders: {error}")
        return found

    def policy(self) -> ReminderPolicy:
        try:
            send_from, send_until = (
                time.fromisoformat(self.send_from),
                time.fromisoformat(self.send_until),
            )
        except ValueError:
            raise ValueError("send_from and send_until must be times like 09:00") from None
        return ReminderPolicy(
            window_days=self.reminder_window_days,
            lead_days=self.reminder_lead_days,
            daily_cap=self.reminder_daily_cap,
            send_from=send_from,
            send_until=send_until,
            time_zone=self.time_zone,
        )


@dataclass
class SmsSection(SmsOptions):
    """``[sms]``: pay by text and payment reminders (see :class:`SmsOptions`)."""

    enabled: bool = False
    allow_http: bool = False  # http:// to another host (see checks.cleartext_problems)

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        found = super().problems()
        if self.provider == "http":
            found += cleartext_problems("sms", "url", self.url, self.allow_http)
        return found


@dataclass
class OutboundSettings:
    """``[outbound]``: collection calls payivr places (see :mod:`payivr.outbound`)."""

    enabled: bool = False
    # The dial string of a customer's number on the trunk: {number} is E.164 (+15551230001),
    # {digits} the same without the +.
    trunk: str = "PJSIP/{number}@trunk"
    agent_ring_seconds: int = 20
    customer_ring_seconds: int = 30
    # Answering machine detection: the answered customer runs AMD() in this dialplan context
    # (dialplan/payivr.conf) before the agent is connected; false connects at once.
    detect_machines: bool = True
    amd_context: str = "payivr-outbound-amd"
    # "name | caller ID | HH:MM-HH:MM | days" (the customer's local time), one per campaign.
    campaigns: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        found = []
        tech, _, resource = self.trunk.partition("/")
        if not tech or not ("{number}" in resource or "{digits}" in resource):
            found.append(
                "outbound.trunk (PAYIVR_OUTBOUND_TRUNK): a dial string with {number} or "
                "{digits}, like PJSIP/{number}@trunk"
            )
        else:
            try:
                self.trunk.format(number="+1", digits="1")
            except (KeyError, IndexError, ValueError):
                found.append("outbound.trunk: only {number} and {digits} may be in braces")
        for name in ("agent_ring_seconds", "customer_ring_seconds"):
            if not 5 <= getattr(self, name) <= 120:
                found.append(f"outbound.{name}: must be 5 to 120 seconds")
        if not self.campaigns:
            found.append(
                "outbound.campaigns (PAYIVR_OUTBOUND_CAMPAIGNS): at least one campaign, like "
                "'collections | Acme <+15550199> | 09:00-20:00 | mon-fri'"
            )
        names: set[str] = set()
        for line in self.campaigns:
            try:
                campaign = parse_campaign(line)
            except CampaignError as error:
                found.append(f"outbound.campaigns: {error}")
                continue
            if campaign.name in names:
                found.append(f"outbound.campaigns: {campaign.name} is given twice")
            names.add(campaign.name)
        return found
