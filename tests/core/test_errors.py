"""payivr's exceptions: one root, and who broke it where that is known."""

import importlib
import pkgutil

import payivr
from payivr.ari.errors import ChannelGone, PeerError, RequestError, error_for_status
from payivr.core.errors import LocalError, PayivrError, RemoteError


def payivr_exceptions() -> list[type[BaseException]]:
    found = []
    for module in pkgutil.walk_packages(payivr.__path__, "payivr."):
        if module.name.endswith(".__main__"):  # running it is the payivr command
            continue
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            ):
                found.append(value)
    return found


def test_every_payivr_exception_derives_from_payivr_error() -> None:
    exceptions = payivr_exceptions()
    assert len(exceptions) > 40
    assert [e for e in exceptions if not issubclass(e, PayivrError)] == []


def test_asterisk_errors_say_who_broke_it() -> None:
    refused = error_for_status(404, "Channel not found", method="POST", path="/channels/c1/play")
    failed = error_for_status(500, "Internal Server Error", method="GET", path="/channels")

    assert isinstance(refused, RequestError) and isinstance(refused, LocalError)
    assert isinstance(refused, ChannelGone)
    assert isinstance(failed, PeerError) and isinstance(failed, RemoteError)
    assert not isinstance(failed, LocalError)
