"""Asterisk REST Interface (ARI): our asyncio client and event routing (the simulator is
``payivr.sim.ari``)."""
