"""The write's gate on a cluster: workers that left during a write are named."""

from __future__ import annotations

from .conftest import local_client


def test_a_worker_that_left_during_a_write_is_named() -> None:
    from xzarrio.writing.guard import scheduler_time, workers_left

    for client in local_client(n_workers=2, processes=False):
        started = scheduler_time(client)
        assert workers_left(client, started) == []
        gone = sorted(client.scheduler_info()["workers"])[0]
        client.retire_workers([gone], close_workers=True)
        assert workers_left(client, started) == [gone]
