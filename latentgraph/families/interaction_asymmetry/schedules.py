"""Learning-rate schedule of the regularised Transformer VAE, plain floats.

``docs/interaction_asymmetry.md#training-schedule``.

:class:`latentgraph.inference.schedules.LinearSchedule` already gives the linear warm-up of the
interaction weight alpha; this module adds the learning-rate schedule, which it does not cover
(warm-up, hold, a drop, then exponential decay), and :class:`ScheduledTrainConfig`, which
feeds that schedule to :func:`latentgraph.inference.svi_torch.train` through its
``lr_factor`` hook.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from latentgraph import TrainConfig
from latentgraph.pyro import LinearSchedule

OFFICIAL_STEPS = 500_000


@dataclass(frozen=True)
class LearningRateSchedule:
    """The official learning rate as a function of the 0-based step ``t``
    (``docs/interaction_asymmetry.md#training-schedule``).

    .. math::
        \\eta(t) = \\begin{cases}
            \\eta_{\\max} \\min\\big(1, (t+1)/W\\big) & t < T_h \\\\
            \\eta_{\\text{drop}} \\cdot r^{(t - T_h)/T_d} & t \\ge T_h
        \\end{cases}

    with ``W = warmup_steps`` (10 000), ``T_h = hold_until`` (30 000), ``eta_drop = drop_to``
    (1e-4), ``r = decay_factor`` (0.1) and ``T_d = decay_steps`` (500 000): 5e-4 until step 30k,
    then 1e-4 falling to 1.15e-5 at step 500k.

    ``drop_to=None`` is the pre-release schedule of the unregularised runs and the CLEVRTex
    schedule, :math:`\\eta_{\\max} r^{(t - W)/T_d}` after the warm-up (no hold, no drop). The
    official code gives the unregularised ablation no schedule at all (it crashes,
    ``docs/interaction_asymmetry.md#unregularised-schedule-crash``); here the schedule is an explicit setting and the default is the same for every
    ablation, so they are compared under one schedule.
    """

    peak: float = 5e-4
    warmup_steps: int = 10_000
    hold_until: int = 30_000
    drop_to: float | None = 1e-4
    decay_factor: float = 0.1
    decay_steps: int = OFFICIAL_STEPS

    def __post_init__(self) -> None:
        for name in ("peak", "decay_factor"):
            value = getattr(self, name)
            if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.drop_to is not None and not (
            isinstance(self.drop_to, float | int)
            and math.isfinite(self.drop_to)
            and self.drop_to > 0
        ):
            raise ValueError(
                f"drop_to must be a positive finite number or None, got {self.drop_to!r}"
            )
        for name in ("warmup_steps", "hold_until", "decay_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.decay_steps == 0:
            raise ValueError("decay_steps must be > 0")
        if self.drop_to is not None and self.hold_until < self.warmup_steps:
            raise ValueError(
                f"hold_until must be >= warmup_steps = {self.warmup_steps}, got {self.hold_until}"
            )

    def __call__(self, step: int) -> float:
        if self.drop_to is not None and step >= self.hold_until:
            return float(
                self.drop_to * self.decay_factor ** ((step - self.hold_until) / self.decay_steps)
            )
        if step < self.warmup_steps:
            return float(self.peak * (step + 1) / self.warmup_steps)
        if self.drop_to is not None:
            return float(self.peak)
        return float(
            self.peak * self.decay_factor ** ((step - self.warmup_steps) / self.decay_steps)
        )

    def scaled(self, fraction: float) -> LearningRateSchedule:
        """Every milestone (warm-up, hold, decay length) multiplied by ``fraction`` (rounded,
        at least 1 step for the decay): the same shape for a run of ``fraction * 500k`` steps."""
        if not (isinstance(fraction, float | int) and math.isfinite(fraction) and fraction > 0):
            raise ValueError(f"fraction must be a positive finite number, got {fraction!r}")
        return replace(
            self,
            warmup_steps=round(self.warmup_steps * fraction),
            hold_until=round(self.hold_until * fraction),
            decay_steps=max(1, round(self.decay_steps * fraction)),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def alpha_schedule(alpha: float, warmup_steps: int) -> LinearSchedule:
    """``alpha_t`` ramps linearly from 0 to ``alpha`` over ``warmup_steps``
    (``docs/interaction_asymmetry.md#objective``)."""
    return LinearSchedule(start=0.0, end=float(alpha), duration=int(warmup_steps))


@dataclass(frozen=True)
class ScheduledTrainConfig(TrainConfig):
    """A :class:`TrainConfig` whose learning rate follows :class:`LearningRateSchedule`.

    ``lr`` is set to the schedule's peak and :meth:`lr_factor` returns
    ``schedule(t) / peak``, which the training loop multiplies in every step (it also carries
    the divergence-recovery scale). ``lr_decay`` stays ``"none"``.
    """

    schedule: LearningRateSchedule = LearningRateSchedule()

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, LearningRateSchedule):
            raise TypeError(
                f"schedule must be a LearningRateSchedule, got {type(self.schedule).__name__}"
            )
        if self.lr_decay != "none":
            raise ValueError("lr_decay must be 'none' when a LearningRateSchedule is given")
        object.__setattr__(self, "lr", float(self.schedule.peak))
        super().__post_init__()

    def lr_factor(self, step: int) -> float:
        return self.schedule(step) / self.schedule.peak
