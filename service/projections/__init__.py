"""The time-indexed projections: their tables, the projector that keeps them, and the readers."""
