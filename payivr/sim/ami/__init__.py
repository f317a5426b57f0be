"""An Asterisk Manager Interface simulator: the wire (``wire.py``), the server
(``server.py``) on a PBX model (``pbx.py``: the protocol and an in-memory PBX), and the ARI
simulator as that PBX (``ari_pbx.py``)."""
