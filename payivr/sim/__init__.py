"""Simulators that stand in for Asterisk and an SMS carrier, for tests, the demo and the bench.

- ``payivr.sim.ari``: Asterisk 22's ARI (REST and WebSocket) with a dialplan and phones.
- ``payivr.sim.ami``: an AMI server on a PBX model, either in memory or the ARI simulator.
- ``payivr.sim.sms``: a carrier whose phones receive payivr's texts and reply.

Production code never imports this package (``payivr serve`` loads none of it, see
``tests/cli/test_layers.py``); ``payivr demo`` and the SMS provider ``simulator`` import it when
they run.
"""
