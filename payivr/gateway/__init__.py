"""The payment gateway edge: the interface, the encrypted HTTP client and the sandboxes.

Card digits leave payivr only here, once, as a JWE for the gateway's public key.
"""

from payivr.gateway.client import GatewayConfigError, HttpGateway, HttpGatewayConfig, RetryPolicy
from payivr.gateway.inprocess import InProcessGateway
from payivr.gateway.interface import (
    Approved,
    Declined,
    Error,
    Gateway,
    GatewayResult,
    RequestNotFound,
    StatusResult,
    Unknown,
    to_flow_event,
)
from payivr.gateway.processor import Faults
from payivr.gateway.transport import Timeouts

__all__ = [
    "Approved",
    "Declined",
    "Error",
    "Faults",
    "Gateway",
    "GatewayConfigError",
    "GatewayResult",
    "HttpGateway",
    "HttpGatewayConfig",
    "InProcessGateway",
    "RequestNotFound",
    "RetryPolicy",
    "StatusResult",
    "Timeouts",
    "Unknown",
    "to_flow_event",
]
