"""The agent console: browser pages, the REST API ``/api/v1``, ``/healthz`` and ``/metrics``.

Wiring (the CLI)::

    app = create_console_app(db=db, calls=call_control, notifier=notifier, bus=bus,
                             metrics=metrics, checks={"ari": ari_check, "ami": ami_check})
    await run_console(app, "127.0.0.1:8080", tls_cert=..., tls_key=...)
"""

from payivr.calls.views import CallInfo
from payivr.console.accounts import (
    Account,
    AccountError,
    Accounts,
    Role,
    add_agent,
    add_api_token,
    set_agent_password,
)
from payivr.console.app import (
    ConsoleServer,
    create_console_app,
    run_console,
    start_console,
    tls_context,
)
from payivr.console.metrics import Metrics
from payivr.console.ports import CallControl, HealthCheck

__all__ = [
    "Account",
    "AccountError",
    "Accounts",
    "CallControl",
    "CallInfo",
    "ConsoleServer",
    "HealthCheck",
    "Metrics",
    "Role",
    "add_agent",
    "add_api_token",
    "create_console_app",
    "run_console",
    "set_agent_password",
    "start_console",
    "tls_context",
]
