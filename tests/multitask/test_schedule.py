"""The task schedule: which task each step trains, a pure function of (seed, epoch, step)."""

from __future__ import annotations

from collections import Counter

import pytest

from hubtune.multitask.data import MultiTaskDataset, TaskBatchSampler
from hubtune.multitask.schedule import TaskSchedule

SIZES = (3000, 1000, 200)  # examples per task


def test_proportional_draws_each_tasks_batches_exactly_once_per_epoch() -> None:
    s = TaskSchedule(SIZES, batch=100, seed=3, sampling="proportional")
    assert s.batches == (30, 10, 2) and s.steps_per_epoch == 42
    for epoch in range(3):
        assert Counter(s.epoch_tasks(epoch)) == {0: 30, 1: 10, 2: 2}
    assert s.epoch_tasks(0) != s.epoch_tasks(1)  # shuffled anew each epoch
    assert s.epoch_tasks(0) != sorted(s.epoch_tasks(0))  # interleaved, not one task after the other
    assert s.probabilities() == pytest.approx([30 / 42, 10 / 42, 2 / 42])


def test_round_robin_takes_tasks_in_turn() -> None:
    s = TaskSchedule(SIZES, batch=100, seed=3, sampling="round_robin")
    assert s.epoch_tasks(0) == s.epoch_tasks(5) == [i % 3 for i in range(42)]
    assert s.probabilities() == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize(("temperature", "expected"), [
    (1.0, [3000 / 4200, 1000 / 4200, 200 / 4200]),  # T = 1: proportional to the data
    (2.0, [n**0.5 / sum(m**0.5 for m in SIZES) for n in SIZES]),
    (1000.0, [1 / 3, 1 / 3, 1 / 3]),  # large T: uniform
])
def test_temperature_frequencies_follow_n_to_the_one_over_t(temperature: float, expected: list[float]) -> None:
    s = TaskSchedule(SIZES, batch=100, seed=0, sampling="temperature", temperature=temperature)
    assert s.probabilities() == pytest.approx(expected, abs=1e-3)
    drawn = Counter(t for epoch in range(150) for t in s.epoch_tasks(epoch))  # 6,300 steps
    total = sum(drawn.values())
    assert [drawn[i] / total for i in range(3)] == pytest.approx(expected, abs=0.025)


@pytest.mark.parametrize("sampling", ["proportional", "temperature"])
def test_sequence_is_a_function_of_seed_and_epoch_only(sampling: str) -> None:
    a = TaskSchedule(SIZES, batch=100, seed=7, sampling=sampling)
    b = TaskSchedule(SIZES, batch=100, seed=7, sampling=sampling)
    other = TaskSchedule(SIZES, batch=100, seed=8, sampling=sampling)
    b.epoch_tasks(0)  # drawing other epochs first changes nothing (no shared generator state)
    assert a.epoch_tasks(1) == b.epoch_tasks(1)
    assert a.epoch_tasks(1) != other.epoch_tasks(1)


class _Epoch:
    epoch = 0


def test_batch_sampler_gives_every_process_the_same_task_and_covers_each_task() -> None:
    data = MultiTaskDataset([list(range(50)), list(range(20))])
    assert data.locate(49) == (0, 49) and data.locate(50) == (1, 0) and data[51] == (1, 1)
    epoch = _Epoch()
    processes, batch = 2, 5
    schedule = TaskSchedule(tuple(data.sizes), batch * processes, seed=1, sampling="proportional")
    sampler = TaskBatchSampler(epoch, schedule, data, batch, processes)
    batches = list(sampler)
    assert len(batches) == len(sampler) == (5 + 2) * processes
    seen: dict[int, list[int]] = {0: [], 1: []}
    for step, task in enumerate(schedule.epoch_tasks(0)):
        pair = batches[2 * step : 2 * step + 2]  # process 0 takes the first, process 1 the second (Accelerate's shard)
        tasks = {data.locate(i)[0] for b in pair for i in b}
        assert tasks == {task}
        assert not set(pair[0]) & set(pair[1])
        seen[task] += [data.locate(i)[1] for b in pair for i in b]
    assert set(seen[0]) == set(range(50)) and set(seen[1]) == set(range(20))  # one pass over every task
    first = batches
    epoch.epoch = 1
    assert list(sampler) != first  # the epoch is read from the (seeded) dataset Accelerate updates
    epoch.epoch = 0
    assert list(sampler) == first
