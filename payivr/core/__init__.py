"""The sans-IO core: the payment flow as a pure state machine, and card validation."""
