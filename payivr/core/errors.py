"""The root of payivr's exceptions.

Every exception class payivr defines derives from :class:`PayivrError`, so ``except
PayivrError`` catches what payivr raises on purpose and lets bugs through. As in h11, where
it is known who broke it, an error says so: :class:`LocalError` (payivr asked for something
the other side refused as wrong) or :class:`RemoteError` (the other side, Asterisk, a
gateway, an SMS provider or the network, failed or sent something malformed).
"""


class PayivrError(Exception):
    """Base of every exception payivr defines."""


class LocalError(PayivrError):
    """We broke it: the other side refused what payivr asked as wrong (or out of date)."""


class RemoteError(PayivrError):
    """The peer broke it: the other side or the network failed, or sent something malformed."""
