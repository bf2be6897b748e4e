"""The event store's behaviour, over chDB and the in-memory fake; then chDB specifics."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.baselines import summarise
from driftd.batch import PredictionBatch
from driftd.errors import (
    BaselineExistsError,
    BaselineNotFoundError,
    StorageDataError,
    StorageError,
)
from driftd.events import Coordinates, OutcomeRecord, PredictionRecord
from driftd.storage import EventStore, EventStoreProtocol
from driftd.storage.columns import (
    DRIFT_METRIC_COLUMNS,
    FEATURE_LAYOUT_COLUMNS,
    OUTCOME_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTION_INSERT_COLUMNS,
    ColumnSpec,
    prediction_arrow,
)
from driftd.storage.migrations import MIGRATIONS, latest_version
from driftd.storage.records import DriftMetric

PredictionFactory = Callable[..., PredictionRecord]
MetricFactory = Callable[..., DriftMetric]

# --- behaviour shared by every implementation -----------------------------------------


def test_migrate_is_idempotent_and_returns_the_version(event_store: EventStoreProtocol) -> None:
    assert event_store.migrate() == latest_version()
    assert event_store.migrate() == latest_version()
    event_store.ping()


def test_predictions_round_trip(
    event_store: EventStoreProtocol, make_prediction: PredictionFactory
) -> None:
    records = [
        make_prediction(0),  # no source (HTTP), class probabilities
        make_prediction(1, source=Coordinates("driftd.predictions", 3, 41)),
        make_prediction(2, source=Coordinates("driftd.predictions", 0, 0)),
        make_prediction(3, model="other"),
    ]
    event_store.insert_predictions(records)
    first = records[0].timestamp_ms
    got = event_store.read_predictions("credit-risk", first, first + 10)
    assert got == records[:3]
    assert got[0].source is None and got[0].pred_proba == {"approve": 0.7, "reject": 0.3}
    assert got[1].nulls == ["zip"] and got[1].latency_ms == 12.5 and got[1].pred_num == 0.93
    assert event_store.read_predictions("credit-risk", first + 1, first + 2) == [records[1]]


def test_outcomes_round_trip(
    event_store: EventStoreProtocol, make_outcome: Callable[..., OutcomeRecord]
) -> None:
    records = [make_outcome(0), make_outcome(1, source=Coordinates("driftd.outcomes", 1, 7))]
    event_store.insert_outcomes(records)
    first = records[0].timestamp_ms
    assert event_store.read_outcomes("credit-risk", first, first + 10) == records
    assert event_store.count("outcomes") == 2


def test_dedup_token_makes_a_repeat_a_noop(
    event_store: EventStoreProtocol, make_prediction: PredictionFactory
) -> None:
    batch = [make_prediction(i) for i in range(100)]
    event_store.insert_predictions(batch, dedup_token="p/0/0-99")
    event_store.insert_predictions(batch, dedup_token="p/0/0-99")
    assert event_store.count("predictions") == 100
    event_store.insert_predictions(batch, dedup_token="p/0/0-99-again")
    assert event_store.count("predictions") == 200
    assert event_store.count_distinct_event_ids("predictions") == 100
    assert event_store.count("predictions", model="nope") == 0


def test_an_identical_batch_without_a_token_is_stored_once(
    event_store: EventStoreProtocol, make_prediction: PredictionFactory
) -> None:
    batch = [make_prediction(i) for i in range(10)]
    event_store.insert_predictions(batch)
    event_store.insert_predictions(batch)
    event_store.insert_predictions(batch[:5])
    assert event_store.count("predictions") == 15


def test_empty_inserts_are_noops(event_store: EventStoreProtocol) -> None:
    event_store.insert_predictions([], dedup_token="x")
    event_store.insert_outcomes([])
    event_store.insert_drift_metrics([])
    assert event_store.count("predictions") == 0


def test_stored_offsets_is_the_highest_offset_per_partition(
    event_store: EventStoreProtocol,
    make_prediction: PredictionFactory,
    make_outcome: Callable[..., OutcomeRecord],
) -> None:
    topic = "driftd.predictions"
    offsets = {0: [5, 9, 7], 1: [100], 2: [3]}
    batch = [
        make_prediction(off, source=Coordinates(topic, part, off))
        for part, offs in offsets.items()
        for off in offs
    ]
    batch += [make_prediction(500, source=Coordinates("elsewhere", 0, 999)), make_prediction(501)]
    event_store.insert_predictions(batch)
    event_store.insert_outcomes([make_outcome(1, source=Coordinates("driftd.outcomes", 0, 4))])

    assert event_store.stored_offsets("predictions", topic, [0, 1, 4]) == {0: 9, 1: 100}
    assert event_store.stored_offsets("predictions", topic, range(3)) == {0: 9, 1: 100, 2: 3}
    assert event_store.stored_offsets("predictions", topic, []) == {}
    assert event_store.stored_offsets("outcomes", "driftd.outcomes", [0]) == {0: 4}
    assert event_store.stored_offsets("outcomes", topic, [0]) == {}


def test_baselines_are_immutable(event_store: EventStoreProtocol) -> None:
    fp_a, fp_b = "a" * 64, "b" * 64
    assert event_store.put_baseline("m", "v1", fp_a, 1000, 1_000, '{"k": 1}') is True
    assert event_store.put_baseline("m", "v1", fp_a, 1000, 1_000, '{"k": 1}') is False
    with pytest.raises(BaselineExistsError) as caught:
        event_store.put_baseline("m", "v1", fp_b, 999, 2_000, '{"k": 2}')
    message = str(caught.value)
    assert "'m'" in message and "'v1'" in message and "a" * 12 in message and "b" * 12 in message
    assert (caught.value.model, caught.value.version) == ("m", "v1")
    stored = event_store.get_baseline("m", "v1")
    assert (stored.fingerprint, stored.n_rows, stored.profile_json) == (fp_a, 1000, '{"k": 1}')


def test_get_baseline_picks_the_newest_unless_a_version_is_named(
    event_store: EventStoreProtocol,
) -> None:
    event_store.put_baseline("m", "2026-01", "f1", 10, 1_000, "{}")
    event_store.put_baseline("m", "2025-12", "f2", 20, 3_000, '{"newest": true}')
    event_store.put_baseline("m", "2026-02", "f3", 30, 2_000, "{}")
    event_store.put_baseline("other", "v9", "f4", 40, 9_000, "{}")

    newest = event_store.get_baseline("m")
    assert (newest.version, newest.created_ms, newest.profile_json) == (
        "2025-12",
        3_000,
        '{"newest": true}',
    )
    assert event_store.get_baseline("m", "2026-01").n_rows == 10
    with pytest.raises(BaselineNotFoundError, match="'nope'"):
        event_store.get_baseline("nope")
    with pytest.raises(BaselineNotFoundError, match="'v7'") as caught:
        event_store.get_baseline("m", "v7")
    assert caught.value.version == "v7"

    listed = event_store.list_baselines("m")
    assert [b.version for b in listed] == ["2025-12", "2026-02", "2026-01"]  # newest first
    assert [b.model for b in event_store.list_baselines()] == ["m", "m", "m", "other"]


def test_listed_baselines_carry_the_outline_of_their_profile(
    event_store: EventStoreProtocol,
) -> None:
    profile = {"features": {"x": {"kind": "numeric", "sample": [1.0] * 50}, "k": {}},
               "prediction": {"kind": "numeric"}, "label": None, "metrics": {}}  # fmt: skip
    event_store.put_baseline("m", "v1", "f1", 10, 1_000, json.dumps(profile))
    event_store.put_baseline("m", "v0", "f0", 10, 500, "{}")
    outlines = [json.loads(b.profile_json) for b in event_store.list_baselines("m")]
    assert outlines == [
        {"features": {"x": {}, "k": {}}, "prediction": {"present": True}, "label": None},
        {"features": {}, "prediction": None, "label": None},
    ]
    summaries = [summarise(b) for b in event_store.list_baselines("m")]
    assert [(s.version, s.features, s.prediction, s.label) for s in summaries] == [
        ("v1", 2, True, False),
        ("v0", 0, False, False),
    ]


def test_query_drift_filters_orders_and_keeps_the_newest_computation(
    event_store: EventStoreProtocol, make_metric: MetricFactory
) -> None:
    rows = [make_metric(w, f) for w in (1, 2, 3) for f in ("income", "age")]
    rows += [make_metric(2, "income", metric="ks"), make_metric(2, "x", model="other")]
    event_store.insert_drift_metrics(rows, dedup_token="w1-3")
    # recomputed after a restart: same key, newer computation, another token
    again = make_metric(2, "income", value=0.5, computed_ms=1_900_000_000_000)
    event_store.insert_drift_metrics([again], dedup_token="w2-recomputed")

    lo, hi = make_metric(1).window_end_ms, make_metric(3).window_end_ms
    got = event_store.query_drift("credit-risk", lo, hi + 1)
    assert [(m.window_id, m.feature, m.metric) for m in got] == [
        (1, "age", "psi"),
        (1, "income", "psi"),
        (2, "age", "psi"),
        (2, "income", "ks"),
        (2, "income", "psi"),
        (3, "age", "psi"),
        (3, "income", "psi"),
    ]
    assert got[4] == again
    assert [m.window_id for m in event_store.query_drift("credit-risk", lo, hi)] == [1, 1, 2, 2, 2]
    by_feature = event_store.query_drift("credit-risk", lo, hi + 1, feature="income", metric="psi")
    assert [(m.window_id, m.value) for m in by_feature] == [(1, 0.1), (2, 0.5), (3, 0.1)]
    assert event_store.query_drift("other", lo, hi + 1) == [rows[-1]]


def test_drift_results_keep_every_field_and_filter_by_severity_version_and_limit(
    event_store: EventStoreProtocol, make_metric: MetricFactory
) -> None:
    rows = [
        make_metric(1, "income", metric="ks", value=0.2, p_value=1e-9, severity="critical"),
        make_metric(1, "age", metric="ks", value=0.01, p_value=0.7),
        make_metric(2, "income", metric="ks", value=0.06, p_value=1e-4, severity="warning"),
        make_metric(2, "age", metric="ks", value=0.02, p_value=0.4),
        make_metric(0, "income", metric="ks", value=0.3, severity="critical", version="v0"),
    ]
    event_store.insert_drift_metrics(rows, dedup_token="results")
    everything = event_store.query_drift("credit-risk", 0, 2**62)
    assert sorted(everything, key=lambda m: m.key) == sorted(rows, key=lambda m: m.key)
    critical = event_store.query_drift("credit-risk", 0, 2**62, severity="critical")
    assert [(m.window_id, m.baseline_version) for m in critical] == [(0, "v0"), (1, "v1")]
    v1 = event_store.query_drift("credit-risk", 0, 2**62, baseline_version="v1", limit=3)
    assert [(m.window_id, m.feature) for m in v1] == [(1, "income"), (2, "age"), (2, "income")]
    latest = event_store.latest_drift("credit-risk")
    assert [(m.baseline_version, m.window_id, m.feature) for m in latest] == [
        ("v1", 2, "age"), ("v0", 0, "income"), ("v1", 2, "income"),
    ]  # fmt: skip
    assert latest[2].p_value == 1e-4 and latest[2].severity == "warning"


def test_list_models_covers_baselines_and_predictions(
    event_store: EventStoreProtocol, make_prediction: PredictionFactory
) -> None:
    assert event_store.list_models() == []
    event_store.put_baseline("zeta", "v1", "f", 1, 1, "{}")
    event_store.insert_predictions([make_prediction(0, model="alpha"), make_prediction(1)])
    assert event_store.list_models() == ["alpha", "credit-risk", "zeta"]


def test_a_closed_store_raises_storage_error(event_store: EventStoreProtocol) -> None:
    event_store.close()
    with pytest.raises(StorageError):
        event_store.ping()
    with pytest.raises(StorageError):
        event_store.count("predictions")


def test_count_rejects_an_unknown_kind(event_store: EventStoreProtocol) -> None:
    with pytest.raises(ValueError, match="kind"):
        event_store.count("baselines")  # type: ignore[arg-type]


# --- chDB specifics ---------------------------------------------------------------------


def _show_create(store: EventStore, table: str) -> str:
    return str(store.client.command(f"SHOW CREATE TABLE {store.database}.{table}"))


def test_migrations_are_recorded_once(chdb_store: EventStore) -> None:
    chdb_store.migrate()
    rows = chdb_store.client.query(
        f"SELECT version, count() FROM {chdb_store.database}.schema_migrations GROUP BY version"
    ).result_rows
    assert sorted(rows) == [(m.version, 1) for m in MIGRATIONS]
    assert max(v for v, _ in rows) == latest_version()


def test_raw_events_have_a_ttl_and_metrics_do_not(chdb_store: EventStore) -> None:
    assert "TTL toDateTime(received_at)" in _show_create(chdb_store, "dead_letters")
    for table in ("predictions", "outcomes"):
        ddl = _show_create(chdb_store, table)
        assert "TTL toDateTime(received_at) + toIntervalDay(30)" in ddl
        assert "non_replicated_deduplication_window = 10000" in ddl
        assert "INDEX src_offset_minmax src_offset TYPE minmax" in ddl
        assert "PARTITION BY" not in ddl
    for table in ("baselines", "drift_metrics"):
        assert "TTL" not in _show_create(chdb_store, table)


def test_the_ttl_follows_the_setting(chdb_store: EventStore, chdb_url: str) -> None:
    with EventStore.connect(chdb_url, chdb_store.database, raw_ttl_days=7) as store:
        assert store.migrate() == latest_version()
        assert "toIntervalDay(7)" in _show_create(store, "predictions")
        assert "toIntervalDay(7)" in _show_create(store, "outcomes")


@pytest.mark.parametrize(
    ("table", "spec"),
    [
        ("prediction_features", PREDICTION_COLUMNS),
        ("feature_layouts", FEATURE_LAYOUT_COLUMNS),
        ("outcomes", OUTCOME_COLUMNS),
        ("drift_results", DRIFT_METRIC_COLUMNS),
    ],
)
def test_insert_column_types_match_the_table(
    chdb_store: EventStore, table: str, spec: ColumnSpec
) -> None:
    described = chdb_store.client.query(f"DESCRIBE TABLE {chdb_store.database}.{table}").result_rows
    assert [(row[0], row[1]) for row in described] == list(zip(spec.names, spec.types, strict=True))


def test_inserted_columns_are_the_table_less_its_maps_of_named_features(
    chdb_store: EventStore,
) -> None:
    """The rows go in without ``num`` and ``cat`` (left empty since migration 6)."""
    db = chdb_store.database
    described = chdb_store.client.query(f"DESCRIBE TABLE {db}.predictions").result_rows
    stored = [(row[0], row[1]) for row in described if row[0] not in ("num", "cat")]
    inserted = PREDICTION_INSERT_COLUMNS
    assert stored == list(zip(inserted.names, inserted.types, strict=True))


def test_a_20k_row_insert_is_one_part(
    chdb_store: EventStore, make_prediction: PredictionFactory
) -> None:
    batch = [
        make_prediction(i, source=Coordinates("driftd.predictions", i % 4, i))
        for i in range(20_000)
    ]
    chdb_store.insert_predictions(batch, dedup_token="big")
    assert chdb_store.count("predictions") == 20_000
    assert chdb_store.count_distinct_event_ids("predictions") == 20_000
    parts = chdb_store.client.command(
        "SELECT count() FROM system.parts WHERE active AND database = "
        f"'{chdb_store.database}' AND table = 'predictions'"
    )
    assert parts == 1
    assert chdb_store.stored_offsets("predictions", "driftd.predictions", range(4)) == {
        0: 19_996,
        1: 19_997,
        2: 19_998,
        3: 19_999,
    }


def test_the_chdb_insert_stores_what_insert_arrow_stores(
    chdb_store: EventStore, make_prediction: PredictionFactory, make_metric: MetricFactory
) -> None:
    """The store's Arrow insert against clickhouse-connect's own ``insert_arrow``: the
    same rows, the same types, one part, the token deduplicates (and still does for
    the drift results, which keep the Native insert)."""
    db, client = chdb_store.database, chdb_store.client
    batch = PredictionBatch.from_records(
        [make_prediction(i, source=Coordinates("t", i % 2, i)) for i in range(50)]
    )
    client.command(f"CREATE TABLE {db}.via_client AS {db}.predictions")
    client.insert_arrow(f"{db}.via_client", prediction_arrow(batch).table)
    chdb_store.insert_predictions(batch, dedup_token="same")
    chdb_store.insert_predictions(batch, dedup_token="same")
    columns = ", ".join(PREDICTION_INSERT_COLUMNS.names)
    rows = [
        client.query(f"SELECT {columns} FROM {db}.{t} ORDER BY event_id").result_rows
        for t in ("predictions", "via_client")
    ]
    assert len(rows[0]) == 50
    assert rows[0] == rows[1]
    parts = client.command(
        f"SELECT count() FROM system.parts WHERE active AND database = '{db}' "
        "AND table = 'predictions'"
    )
    assert parts == 1
    metrics = [make_metric(w) for w in range(3)]
    chdb_store.insert_drift_metrics(metrics, dedup_token="w")
    chdb_store.insert_drift_metrics(metrics, dedup_token="w")
    assert chdb_store.query_drift("credit-risk", 0, 2**62) == sorted(
        metrics, key=lambda m: (m.window_end_ms, m.feature, m.metric)
    )


def test_failures_raise_storage_error_with_the_cause(
    chdb_store: EventStore, make_prediction: PredictionFactory
) -> None:
    chdb_store.client.command(f"DROP TABLE {chdb_store.database}.predictions")
    with pytest.raises(StorageError, match="insert into predictions") as caught:
        chdb_store.insert_predictions([make_prediction(0)])
    assert caught.value.__cause__ is not None


def test_connect_failures_raise_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        EventStore.connect("http://driftd:s3cret@127.0.0.1:1/driftd")
    assert "s3cret" not in str(caught.value)
    assert re.search(r"driftd:\*\*\*@127\.0\.0\.1:1", str(caught.value))


@pytest.mark.parametrize(("database", "ttl"), [("drop table x", 30), ("ok", 0)])
def test_connect_validates_its_arguments(database: str, ttl: int) -> None:
    with pytest.raises(ValueError, match=r"database|raw_ttl_days"):
        EventStore.connect(f"chdb:///nowhere/{uuid.uuid4().hex}", database, raw_ttl_days=ttl)


def test_windows_of_two_baseline_versions_do_not_collapse(
    event_store: EventStoreProtocol, make_metric: MetricFactory
) -> None:
    """Window ids count per baseline version: v1's window 0 and v2's window 0 both stay."""
    v1 = make_metric(0, "income", value=0.1)
    v2 = replace(v1, baseline_version="v2", value=0.7, computed_ms=v1.computed_ms + 1)
    event_store.insert_drift_metrics([v1], dedup_token="v1-w0")
    event_store.insert_drift_metrics([v2], dedup_token="v2-w0")
    got = event_store.query_drift("credit-risk", 0, 2**41)
    assert sorted((m.baseline_version, m.value) for m in got) == [("v1", 0.1), ("v2", 0.7)]
    assert v1.key != v2.key


def test_dead_letters_round_trip_newest_first(event_store: EventStoreProtocol) -> None:
    from driftd.storage.records import StoredDeadLetter

    rows = [
        StoredDeadLetter(1_800_000_000_000 + i, "predictions", reason, "detail", payload)
        for i, (reason, payload) in enumerate(
            [("invalid_json", ""), ("unknown_model", '{"model":"x"}'), ("invalid_json", "")]
        )
    ]
    rows.append(StoredDeadLetter(1_800_000_000_009, "outcomes", "missing_field", "d", "{}",
                                 "driftd.outcomes", 2, 41))  # fmt: skip
    event_store.insert_dead_letters(rows)
    got = event_store.read_dead_letters(1_800_000_000_000, 1_800_000_000_010)
    assert got == sorted(rows, key=lambda d: d.received_ms, reverse=True)
    only = event_store.read_dead_letters(0, 2**41, reason="invalid_json", limit=1)
    assert only == [rows[2]]


_names = st.sampled_from(["a", "b", "ç", "x y", "k" * 40])
_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.dictionaries(_names, st.floats(-1e9, 1e9), max_size=3),
            st.dictionaries(_names, _texts, max_size=3),
            st.lists(_names, max_size=2, unique=True),
            st.none() | st.floats(0, 1),
            st.dictionaries(_names, st.floats(0, 1), max_size=2),
            st.dictionaries(_names, _texts, max_size=2),
            st.none() | st.builds(Coordinates, st.just("t"), st.integers(0, 3), st.integers(0, 99)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_a_batch_of_columns_reads_back_as_its_records(
    event_store: EventStoreProtocol, now_ms: int, rows: list[tuple[Any, ...]]
) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"
    records = [
        PredictionRecord(
            event_id=f"e{i}", model=model, model_version="v", timestamp_ms=now_ms + i,
            received_ms=now_ms, request_id="", num=num, cat=cat, nulls=nulls, pred_num=pred,
            pred_label="" if pred is not None else "yes", pred_proba=proba, segments=segments,
            latency_ms=None if i % 2 else 1.5, source=source,
        )
        for i, (num, cat, nulls, pred, proba, segments, source) in enumerate(rows)
    ]  # fmt: skip
    event_store.insert_predictions(PredictionBatch.from_records(records))
    got = event_store.read_predictions(model, now_ms, now_ms + len(records))
    # a row's nulls are a set: their order follows the batch's columns
    assert [replace(r, nulls=sorted(r.nulls)) for r in got] == [
        replace(r, nulls=sorted(r.nulls)) for r in records
    ]


@pytest.mark.parametrize("kind", ["predictions", "outcomes"])
def test_an_insert_the_engine_refuses_raises_and_writes_nothing(
    chdb_store: EventStore, make_prediction: PredictionFactory, kind: str
) -> None:
    """A refused insert (here a violated constraint; in production too many parts)
    must raise: chDB's streaming insert wrote nothing and said nothing, so the
    collector counted the batch stored and committed its offsets."""
    db = chdb_store.database
    for table in (kind, "outcomes_latest") if kind == "outcomes" else (kind,):
        chdb_store.client.command(
            f"ALTER TABLE {db}.{table} ADD CONSTRAINT refuse CHECK event_id = ''"
        )
    with pytest.raises(StorageError):
        if kind == "predictions":
            chdb_store.insert_predictions(
                [make_prediction(i, source=Coordinates("t", 0, i)) for i in range(5)]
            )
        else:
            chdb_store.insert_outcomes(
                [OutcomeRecord(f"o{i}", "m", f"r{i}", 5, 6, None, "yes") for i in range(5)]
            )
    assert chdb_store.count(kind) == 0  # type: ignore[arg-type]


def test_an_outcome_arrow_refuses_is_the_datas_fault(chdb_store: EventStore) -> None:
    """Outcomes become Arrow before their inserts; a value Arrow refuses is a
    :class:`StorageDataError` (the pipeline bisects to the event and dead-letters
    it), as for predictions, never a bare error that stalls the collector's batch."""
    good = OutcomeRecord("o1", "m", "r1", 5, 6, 1.0, "")
    for bad in (replace(good, timestamp_ms=2**70), replace(good, outcome_num="1.0")):  # type: ignore[arg-type]
        with pytest.raises(StorageDataError):
            chdb_store.insert_outcomes([good, bad])
    assert chdb_store.count("outcomes") == 0
