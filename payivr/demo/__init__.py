"""Running payivr on one machine: the terminal rehearsal and the simulated demo."""
