"""The lag arithmetic of ``engine.db.replica_lag`` on given WAL positions (the real servers are in
tests/integration/test_read_replica.py)."""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import create_async_engine

from engine.db.replica_lag import ReplicaLag


def _lag() -> ReplicaLag:
    # Engines connect lazily: nothing here reaches a server.
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    return ReplicaLag(engine, engine, interval_s=1.0)


def _sample(lag: ReplicaLag, at: float, primary: int, replayed: int) -> None:
    lag._history.append((at, primary))
    lag._record(replayed, now=at + 0.01)


def test_a_caught_up_replica_of_an_idle_primary_has_no_lag():
    lag = _lag()
    for second in range(5):
        _sample(lag, 100.0 + second, primary=500, replayed=500)
    assert lag.lag_bytes == 0 and lag.lag_s is not None and lag.lag_s < 0.1
    assert lag.staleness_s(now=104.5) < 1


def test_paused_replay_grows_from_the_last_sample_it_covers_and_catching_up_resets_it():
    lag = _lag()
    _sample(lag, 100.0, primary=500, replayed=500)
    _sample(lag, 101.0, primary=900, replayed=500)  # a write the replica does not replay
    _sample(lag, 105.0, primary=900, replayed=500)
    assert lag.complete_as_of == 100.0 and lag.lag_bytes == 400
    assert lag.lag_s is not None and 5.0 <= lag.lag_s < 5.1
    _sample(lag, 106.0, primary=950, replayed=900)  # replayed what the primary had at 101 and 105
    assert lag.complete_as_of == 105.0 and lag.lag_bytes == 50
    assert len(lag._history) == 2  # older samples are dropped once covered


def test_a_replica_behind_since_before_the_first_sample_is_of_unknown_staleness():
    lag = _lag()
    _sample(lag, 100.0, primary=900, replayed=100)
    _sample(lag, 103.0, primary=900, replayed=100)
    assert lag.complete_as_of is None and math.isinf(lag.staleness_s())
    assert lag.lag_s is not None and lag.lag_s >= 3.0  # at least this far behind


def test_a_reported_failure_marks_it_down_until_a_sample_succeeds():
    lag = _lag()
    lag.up = True
    lag.mark_down("ConnectionRefusedError")
    assert not lag.up and lag.problem == "ConnectionRefusedError"
