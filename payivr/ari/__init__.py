"""Asterisk REST Interface (ARI): our asyncio client, event routing and the simulator."""
