"""Figures of a fitted slot model: reconstructions, slot-assignment maps, per-slot decodings.

Plain matplotlib ``Figure`` objects (no pyplot state), drawn from the arrays of
:class:`~latentgraph.families.interaction_asymmetry.evaluate.Evaluation.examples`.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from latentgraph._atomic import save_figure


def assignment_image(labels: np.ndarray) -> np.ndarray:
    """Colour a label map ``(H, W)`` (slot index, -1 for "none") as RGB ``(H, W, 3)``: one
    ``tab10`` colour per slot (repeating after 10 slots), black for -1."""
    palette = np.asarray(colormaps["tab10"].colors)
    colours = palette[np.asarray(labels) % len(palette)]
    return np.where(np.asarray(labels)[..., None] < 0, 0.0, colours)


def draw_reconstructions(examples: dict, path: str | os.PathLike | None = None):
    """Rows: input, reconstruction, attention assignment ``argmax_k S_pk`` (all pixels) and
    Jacobian assignment ``argmax_k G_pk`` (ground-truth foreground only); one column per
    image."""
    images = examples["images"]
    m = len(images)
    rows = [
        ("input", images),
        ("reconstruction", examples["reconstructions"]),
        (
            "attention argmax",
            [assignment_image(a.argmax(-1)) for a in examples["attention"]],
        ),
        (
            "Jacobian argmax (fg)",
            [assignment_image(a) for a in examples["jacobian_assignment"]],
        ),
    ]
    figure = Figure(figsize=(1.3 * m + 1.2, 1.35 * len(rows)), constrained_layout=True)
    axes = figure.subplots(len(rows), m, squeeze=False)
    for r, (label, pictures) in enumerate(rows):
        for c in range(m):
            axes[r, c].imshow(pictures[c], interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    if path is not None:
        save_figure(figure, path, dpi=110)
    return figure


def draw_slot_decodings(examples: dict, path: str | os.PathLike | None = None):
    """Per image (rows): the input, then for each slot ``k`` its decoding alone, weighted by its
    share of the attention ``S_pk / H`` (what slot ``k`` contributes to the image)."""
    images, slots, attention = examples["images"], examples["slot_images"], examples["attention"]
    m, n_slots = slots.shape[:2]
    figure = Figure(figsize=(1.3 * (n_slots + 1), 1.3 * m), constrained_layout=True)
    axes = figure.subplots(m, n_slots + 1, squeeze=False)
    for i in range(m):
        axes[i, 0].imshow(images[i], interpolation="nearest")
        for k in range(n_slots):
            weighted = slots[i, k] * attention[i, ..., k, None]
            axes[i, k + 1].imshow(np.clip(weighted, 0, 1), interpolation="nearest")
            if i == 0:
                axes[i, k + 1].set_title(f"slot {k}", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=8)
    if path is not None:
        save_figure(figure, path, dpi=110)
    return figure
