"""Outbound collection calls: payivr rings the agent, then the customer through a trunk."""
