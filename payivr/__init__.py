"""payivr: a self-hosted secure payment IVR for Asterisk contact centres."""

__version__ = "0.1.0"
