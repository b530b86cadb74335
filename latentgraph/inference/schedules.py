"""Schedules for bounds and weights (backend-neutral, plain floats)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearSchedule:
    """Linear interpolation from ``start`` to ``end`` over ``duration`` steps after ``delay``.

    .. math:: v(t) = s + (e - s)\\,\\min\\big(1, \\max(0, t - d) / D\\big)

    With ``delay`` = the frozen-mask period this is the *fixed* form of the bound schedule of
    Lachapelle et al. (2024; ``docs/mechanism_sparsity.md#bound-schedule-after-frozen-masks``):
    the anneal counts the steps after the
    delay, not from step 0. ``duration = 0`` jumps to ``end`` right after the delay.
    """

    start: float
    end: float
    duration: int
    delay: int = 0

    def __post_init__(self) -> None:
        if self.duration < 0 or self.delay < 0:
            raise ValueError(
                f"duration and delay must be >= 0, got duration={self.duration}, delay={self.delay}"
            )

    def __call__(self, step: int) -> float:
        elapsed = step - self.delay
        if elapsed <= 0:
            return float(self.start) if self.duration > 0 or elapsed < 0 else float(self.end)
        if self.duration == 0:
            return float(self.end)
        frac = min(1.0, elapsed / self.duration)
        return float(self.start + (self.end - self.start) * frac)
