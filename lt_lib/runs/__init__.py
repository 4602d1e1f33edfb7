"""How runs are made and stored: the engine, the training step and loop, runs and their checkpoints,
runs at once and GPU leases, which runs are missing (the plan), the results store, estimates, benchmarks."""
