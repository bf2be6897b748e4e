"""Joining outcomes to predictions, on chDB and the in-memory fake alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from driftd.errors import StorageError
from driftd.events import Coordinates, OutcomeRecord, PredictionRecord
from driftd.storage import EventStore, EventStoreProtocol

BASE = 1_800_000_000_000  # far enough ahead that the raw-event TTL keeps every row
DAY = 86_400_000


def _prediction(i: int, ts: int, received: int | None = None) -> PredictionRecord:
    return PredictionRecord(
        event_id=f"p{i}",
        model="m",
        model_version="",
        timestamp_ms=ts,
        received_ms=ts if received is None else received,
        request_id=f"r{i}",
        num={},
        cat={},
        nulls=[],
        pred_num=None,
        pred_label="yes" if i % 2 else "no",
        pred_proba={"yes": 0.7, "no": 0.3} if i % 2 else {"yes": 0.2, "no": 0.8},
        segments={"region": "eu" if i % 3 else "us"},
        latency_ms=None,
    )


def _outcome(i: int, label: str, ts: int, *, eid: str | None = None) -> OutcomeRecord:
    return OutcomeRecord(
        event_id=eid or f"o{i}-{ts}",
        model="m",
        request_id=f"r{i}",
        timestamp_ms=ts,
        received_ms=ts,
        outcome_num=None,
        outcome_label=label,
    )


def _labels(store: EventStoreProtocol, horizon_ms: int = 30 * DAY) -> list[tuple[str, str]]:
    return [
        (p.request_id, p.outcome_label)
        for p in store.read_labelled("m", BASE, BASE + 100_000, horizon_ms)
    ]


def test_outcomes_join_once_latest_wins_whatever_the_order(
    event_store: EventStoreProtocol,
) -> None:
    event_store.insert_predictions([_prediction(i, BASE + i * 1000) for i in range(4)])
    later = BASE + DAY
    # a correction first, the outcome it corrects later, and a duplicate: the latest
    # by outcome timestamp wins, once
    event_store.insert_outcomes([_outcome(0, "yes", later + 10, eid="fix")])
    event_store.insert_outcomes([_outcome(0, "no", later, eid="first")])
    event_store.insert_outcomes([_outcome(0, "no", later, eid="first")], dedup_token="again")
    event_store.insert_outcomes([_outcome(1, "yes", later)])
    # an outcome whose prediction has not arrived yet is kept and joined when it does
    event_store.insert_outcomes([_outcome(9, "no", later)])
    assert _labels(event_store) == [("r0", "yes"), ("r1", "yes"), ("r2", ""), ("r3", "")]
    event_store.insert_predictions([_prediction(9, BASE + 9_000, received=later + 5)])
    joined = event_store.read_labelled("m", BASE, BASE + 100_000, 30 * DAY)
    assert [(p.request_id, p.outcome_label) for p in joined][-1] == ("r9", "no")
    assert [p.labelled for p in joined] == [True, True, False, False, True]
    assert joined[0].label_received_ms == later + 10
    assert joined[0].pred_proba == {"yes": 0.2, "no": 0.8}
    assert joined[0].segments == {"region": "us"}


def test_outcomes_after_the_horizon_are_ignored(event_store: EventStoreProtocol) -> None:
    event_store.insert_predictions([_prediction(0, BASE)])
    event_store.insert_outcomes([_outcome(0, "yes", BASE + 200_000 + 2 * DAY)])
    assert _labels(event_store, horizon_ms=DAY) == [("r0", "")]
    assert _labels(event_store, horizon_ms=3 * DAY) == [("r0", "yes")]


def test_find_predictions_by_request_id(event_store: EventStoreProtocol) -> None:
    first = _prediction(1, BASE + 1000)
    event_store.insert_predictions(
        [_prediction(i, BASE + i * 1000) for i in range(5)]
        + [replace(first, event_id="p1-again", timestamp_ms=BASE + 50_000)]
    )
    found = event_store.find_predictions("m", ["r1", "r3", "r404", ""], BASE)
    assert [(p.request_id, p.timestamp_ms) for p in found] == [
        ("r1", BASE + 1000),
        ("r3", BASE + 3000),
    ]
    assert (found[0].pred_label, found[0].pred_proba) == ("yes", {"yes": 0.7, "no": 0.3})
    assert not found[0].labelled
    assert event_store.find_predictions("m", ["r1"], BASE + 2000)[0].timestamp_ms == BASE + 50_000
    assert event_store.find_predictions("m", [], BASE) == []


def test_touched_windows_name_new_predictions_and_newly_labelled_ones(
    event_store: EventStoreProtocol,
) -> None:
    window = 10_000
    event_store.insert_predictions(
        [_prediction(i, BASE + i * 6_000, received=BASE + i * 6_000) for i in range(6)]
    )
    assert event_store.touched_windows("m", BASE + 20_000, BASE, window) == [
        BASE + 20_000,
        BASE + 30_000,
    ]
    event_store.insert_outcomes([_outcome(0, "yes", BASE + DAY)])
    assert event_store.touched_windows("m", BASE + DAY, BASE, window) == [BASE]
    assert event_store.touched_windows("m", BASE + DAY, BASE + 1, window) == []


def test_the_request_index_prunes_granules_on_a_large_table(chdb_store: EventStore) -> None:
    db = chdb_store.database
    chdb_store.client.command(
        f"INSERT INTO {db}.predictions (event_id, model, timestamp, received_at, request_id) "
        "SELECT toString(number), 'm', fromUnixTimestamp64Milli(toInt64(1800000000000 + number)), "
        "now64(3), concat('r', toString(number)) FROM numbers(400000)"
    )
    plan = "\n".join(
        str(row[0])
        for row in chdb_store.client.query(
            f"EXPLAIN indexes = 1 SELECT count() FROM {db}.predictions "
            "WHERE model = 'm' AND request_id IN ('r123', 'r398765')"
        ).result_rows
    )
    assert "request_id_bloom" in plan
    granules = [line for line in plan.splitlines() if "Granules:" in line]
    selected, total = (int(x) for x in granules[-1].split("Granules:")[1].split("/"))
    assert selected <= 4 < total
    assert [p.request_id for p in chdb_store.find_predictions("m", ["r398765"], 0)] == ["r398765"]


def test_migration_4_backfills_outcomes_stored_before_it(chdb_store: EventStore) -> None:
    db = chdb_store.database
    chdb_store.insert_predictions([_prediction(0, BASE)])
    chdb_store.insert_outcomes([_outcome(0, "yes", BASE + 1)])
    chdb_store.client.command(f"TRUNCATE TABLE {db}.outcomes_latest")
    chdb_store.client.command(f"DELETE FROM {db}.schema_migrations WHERE version >= 4")
    chdb_store.client.command(f"OPTIMIZE TABLE {db}.schema_migrations FINAL")
    chdb_store.migrate()
    chdb_store.migrate()
    assert _labels(chdb_store) == [("r0", "yes")]


def _sourced(i: int, label: str, ts: int, offset: int) -> OutcomeRecord:
    return replace(_outcome(i, label, ts), source=Coordinates("outcomes", 0, offset))


def _refuse(store: EventStore, table: str) -> None:
    store.client.command(
        f"ALTER TABLE {store.database}.{table} ADD CONSTRAINT refuse CHECK request_id = ''"
    )


def _accept(store: EventStore, table: str) -> None:
    store.client.command(f"ALTER TABLE {store.database}.{table} DROP CONSTRAINT refuse")


def test_a_refused_join_write_leaves_the_outcomes_unstored_so_they_come_again(
    chdb_store: EventStore,
) -> None:
    """The join table refusing its part (disk full, too many parts; a crash in between
    is the same) must not leave the batch counted stored by the collector's high-water
    mark: it would skip the batch on redelivery and the labels would never join."""
    chdb_store.insert_predictions([_prediction(i, BASE + i) for i in range(3)])
    batch = [_sourced(i, "yes", BASE + 10 + i, offset=i) for i in range(3)]
    _refuse(chdb_store, "outcomes_latest")
    with pytest.raises(StorageError):
        chdb_store.insert_outcomes(batch, dedup_token="outcomes/0/0-2")
    assert chdb_store.stored_offsets("outcomes", "outcomes", [0]) == {}
    _accept(chdb_store, "outcomes_latest")
    chdb_store.insert_outcomes(batch, dedup_token="outcomes/0/0-2")  # the redelivery
    assert _labels(chdb_store) == [("r0", "yes"), ("r1", "yes"), ("r2", "yes")]
    assert chdb_store.stored_offsets("outcomes", "outcomes", [0]) == {0: 2}


def test_a_refused_raw_write_after_the_join_is_written_again_once(
    chdb_store: EventStore,
) -> None:
    chdb_store.insert_predictions([_prediction(0, BASE)])
    batch = [_sourced(0, "no", BASE + 10, offset=7)]
    _refuse(chdb_store, "outcomes")
    with pytest.raises(StorageError):
        chdb_store.insert_outcomes(batch, dedup_token="outcomes/0/7-7")
    assert chdb_store.stored_offsets("outcomes", "outcomes", [0]) == {}
    _accept(chdb_store, "outcomes")
    chdb_store.insert_outcomes(batch, dedup_token="outcomes/0/7-7")
    assert chdb_store.stored_offsets("outcomes", "outcomes", [0]) == {0: 7}
    assert chdb_store.count("outcomes") == 1
    latest = chdb_store.client.command(f"SELECT count() FROM {chdb_store.database}.outcomes_latest")
    assert int(str(latest)) == 1  # the retry's join write was the same token: a no-op
    assert _labels(chdb_store) == [("r0", "no")]


def test_migration_5_drops_the_view_and_fills_the_gap_a_crash_left(
    chdb_store: EventStore,
) -> None:
    db = chdb_store.database
    chdb_store.insert_predictions([_prediction(i, BASE + i) for i in range(3)])
    chdb_store.insert_outcomes([_outcome(0, "no", BASE + 10), _outcome(1, "no", BASE + 10)])
    chdb_store.insert_outcomes([_outcome(2, "yes", BASE + 10)])
    # the state a crash between a view's two parts left: outcomes with no join row
    # (r0's correction, r2 altogether); r1's join row is current
    chdb_store.insert_outcomes([_outcome(0, "yes", BASE + 20)])
    chdb_store.client.command(
        f"ALTER TABLE {db}.outcomes_latest DELETE WHERE event_id IN "
        f"('o0-{BASE + 20}', 'o2-{BASE + 10}') SETTINGS mutations_sync = 1"
    )
    assert _labels(chdb_store) == [("r0", "no"), ("r1", "no"), ("r2", "")]
    chdb_store.client.command(f"DELETE FROM {db}.schema_migrations WHERE version >= 5")
    chdb_store.client.command(f"OPTIMIZE TABLE {db}.schema_migrations FINAL")
    chdb_store.migrate()
    chdb_store.migrate()
    assert _labels(chdb_store) == [("r0", "yes"), ("r1", "no"), ("r2", "yes")]
    rows = chdb_store.client.command(f"SELECT count() FROM {db}.outcomes_latest")
    assert int(str(rows)) == 4  # r0 twice (collapsed by merges and reads), r1, r2
    views = chdb_store.client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine = "
        "'MaterializedView'",
        parameters={"db": db},
    ).result_rows
    assert views == []
