"""Joining outcomes to predictions, on chDB and the in-memory fake alike."""

from __future__ import annotations

from dataclasses import replace

from driftd.events import OutcomeRecord, PredictionRecord
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
    chdb_store.client.command(f"DELETE FROM {db}.schema_migrations WHERE version = 4")
    chdb_store.client.command(f"OPTIMIZE TABLE {db}.schema_migrations FINAL")
    chdb_store.migrate()
    chdb_store.migrate()
    assert _labels(chdb_store) == [("r0", "yes")]
