"""Single-group minibatches (e.g. single-context batches, the context module's reference
sampler, ``docs/context_module.md#batch-statistics-leak``): every batch holds one group, epochs are re-drawn
exactly on resume, and bad labels are refused before any work."""

import numpy as np
import pytest
import torch

from latentgraph.inference.checkpoint_torch import load_checkpoint
from latentgraph.inference.svi_torch import TrainConfig, train
from latentgraph.inference.training_state_torch import single_group_order

GROUP_SIZES = (13, 8, 3, 21)  # the group of 3 never fills a batch of 4


def _groups() -> torch.Tensor:
    labels = np.repeat(np.arange(len(GROUP_SIZES)), GROUP_SIZES)
    return torch.as_tensor(np.random.default_rng(0).permutation(labels))


def test_every_batch_holds_one_group_and_no_row_twice():
    groups, batch = _groups(), 4
    order = single_group_order(groups, batch, torch.Generator().manual_seed(1))
    assert len(order) == sum(n // batch for n in GROUP_SIZES) * batch  # 3 + 2 + 0 + 5 batches
    assert len(set(order.tolist())) == len(order)
    per_batch = groups[order].view(-1, batch)
    assert (per_batch == per_batch[:, :1]).all()
    counts = np.bincount(per_batch[:, 0].numpy(), minlength=len(GROUP_SIZES))
    assert counts.tolist() == [n // batch for n in GROUP_SIZES]


def test_the_order_is_random_but_reproducible():
    groups = _groups()
    first = single_group_order(groups, 4, torch.Generator().manual_seed(1))
    again = single_group_order(groups, 4, torch.Generator().manual_seed(1))
    other = single_group_order(groups, 4, torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)
    # the batches' groups come in a shuffled order, not group by group
    assert any(
        not torch.equal(
            groups[single_group_order(groups, 4, torch.Generator().manual_seed(s))].view(-1, 4)[
                :, 0
            ],
            groups[single_group_order(groups, 4, torch.Generator().manual_seed(s))]
            .view(-1, 4)[:, 0]
            .sort()
            .values,
        )
        for s in range(3)
    )


class _RecordingObjective:
    """Loss of a linear model; records the group labels of every batch it sees."""

    def __init__(self, module):
        self.module, self.seen = module, []

    def loss(self, batch, step):
        self.seen.append(batch["g"].unique().tolist())
        return (self.module(batch["x"]) - batch["y"]).square().mean(), {}

    def after_step(self, step, logs):
        pass


def _data():
    groups = _groups().numpy()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(len(groups), 2)).astype(np.float32)
    return {"x": x, "y": x[:, :1] * 2.0, "g": groups.astype(np.float32)}, groups


def _train(steps, data, groups, path=None, resume=False):
    torch.manual_seed(0)
    module = torch.nn.Linear(2, 1)
    objective = _RecordingObjective(module)
    config = TrainConfig(steps=steps, batch_size=4, lr=1e-2, seed=5, device="cpu", progress=False,
                         checkpoint_every=3)  # fmt: skip
    train(module, objective, data, config, batch_groups=groups, checkpoint_path=path,
          resume=resume)  # fmt: skip
    return module, objective


def test_training_sees_single_group_batches_across_epochs():
    data, groups = _data()
    _, objective = _train(25, data, groups)  # 10 batches per epoch: two epochs and a half
    assert all(len(labels) == 1 for labels in objective.seen)
    assert 2 not in {labels[0] for labels in objective.seen}  # its 3 rows never fill a batch


def test_resume_redraws_the_same_single_group_epochs(tmp_path):
    data, groups = _data()
    reference, _ = _train(14, data, groups)
    _train(6, data, groups, tmp_path / "c.pt")  # stops inside the first epoch
    resumed, objective = _train(14, data, groups, tmp_path / "c.pt", resume=True)
    assert len(objective.seen) == 8
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 14
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros(7, dtype=np.int64), r"\(45,\) integer labels"),
        (np.zeros(45), r"integer labels"),
        (np.arange(45), r"no group has batch_size = 4"),
    ],
)
def test_bad_groups_are_refused(labels, message):
    data, _ = _data()
    with pytest.raises(ValueError, match=message):
        _train(2, data, labels)
