"""Training loops, schedules, constrained sparsity and checkpoints."""
