"""Versioned ClickHouse schema: an ordered list of migrations.

Each migration is ``(version, description, statements)``. Statements are
templates: ``{db}`` is the database, ``{ttl_days}`` the raw-event retention.
:meth:`driftd.storage.EventStore.migrate` applies, in order, every migration
newer than the highest version recorded in ``{db}.schema_migrations``, and
records each one after its statements succeed. Every statement is idempotent
(``IF NOT EXISTS``), so a crash half-way through a migration, or two processes
migrating at once, only repeats harmless work. Never edit a released
migration: append a new one.

Schema decisions (version 1):

* ``predictions`` ``ORDER BY (model, timestamp, event_id)``: every read is "one
  model, a time range" (windows, performance, Grafana); ``event_id`` last makes
  the sort total and puts duplicates side by side.
* ``outcomes`` ``ORDER BY (model, request_id, timestamp, event_id)``: outcomes
  are looked up by the request ids of predictions (the join key).
* Raw events expire ``ttl_days`` after ``received_at``, the time driftd
  received them. ``timestamp`` is the producer's clock: a backfill of old
  events would vanish on insert, and a wrong clock could keep rows forever.
* No ``PARTITION BY``: one insert forms one part, so an insert is
  all-or-nothing, which the collector relies on.
* ``non_replicated_deduplication_window`` enables insert deduplication on
  non-replicated (and embedded) tables: a repeated ``insert_deduplication_token``
  (or, without one, an identical block) is a no-op.
* ``drift_metrics`` is a ``ReplacingMergeTree(computed_at)`` whose sorting key is
  exactly the identity (model, baseline_version, feature, metric, window_id:
  window ids count per baseline version); a minmax index on
  ``window_end`` prunes the time range. Merges are eventual, so reads also
  deduplicate (``LIMIT 1 BY``).
* ``baselines``: ``ReplacingMergeTree`` on (model, version), profile ZSTD;
  immutability is enforced by the store before it inserts.

Version 2 adds ``dead_letters``: rejected events (scrubbed payload, reason,
source) when there is no Kafka dead-letter topic, ordered by arrival, with the
raw-event TTL.

Version 3 adds ``drift_results``: every field of a judged window's result
(value, p-value, effect size, severity, segment, size, start and end), keyed
by (model, baseline_version, segment, feature, metric, window_id) in a
``ReplacingMergeTree(computed_at)`` like ``drift_metrics``, which stays for
the windows stored before it and is no longer written. A minmax index on
``window_end`` prunes time ranges, a set index on ``severity`` the filter.

Version 4 is what joining outcomes to predictions needs:

* ``outcomes_latest``, fed by a materialized view on ``outcomes`` (and
  back-filled from it), ``ReplacingMergeTree(timestamp)`` ordered by
  ``(model, request_id)``: one row per judged request once merged. Merges are
  eventual, so reads still pick the latest by ``argMax`` over (timestamp,
  event id): a repeated outcome counts once, a corrected one replaces the
  earlier whatever order they arrive in. A back-fill repeated after a crash
  only adds rows that this collapses.
* a ``bloom_filter`` skip index on ``predictions.request_id`` (materialized for
  the rows already stored): looking up the predictions of a batch of outcomes
  reads only the granules that may hold them, instead of the model's whole
  range. A projection ordered by request id would copy every feature map.

Version 5 drops the materialized view of version 4: the store writes
``outcomes_latest`` itself, before ``outcomes``. A view made one insert two
parts, committed one after the other; a crash or a refused part between them
left outcomes in ``outcomes`` (so the collector's stored high-water mark,
read from ``outcomes``, skipped them on redelivery) that never reached
``outcomes_latest``, so their labels never joined. Written join table first,
a failure between the two leaves the outcomes unstored by the high-water mark,
so they are delivered and written again (a repeated row collapses). The
migration copies over every outcome newer than what ``outcomes_latest`` holds
for its request, the gap such a crash may have left, through a sort-merge
join (``partial_merge``), so a large ``outcomes_latest`` need not fit in memory
as a hash table (on embedded chDB that memory is the collector's).

Version 6 stores a prediction's feature values without their names: three columns
on ``predictions`` (``layout UInt64``, ``num_values Array(Float64)``,
``cat_values Array(String)``), and ``feature_layouts`` (``ReplacingMergeTree`` on
``layout``: the names of each layout's values, in order; a layout id is a digest
of its names, so a layout written twice is the same row). The maps repeated every
name in every row: about half of what the embedded engine spent inserting and
merging a row. Rows stored before keep their maps and layout 0; new rows leave the
maps empty. Reads go through the view ``prediction_features``, which has the
columns of the table before version 6 and puts the names back (the maps for
layout 0); it is also what SQL users (the Grafana dashboard) query for features.
``if`` computes both branches for every row, so both arrays are cut to the
shorter: a row whose layout is missing (``feature_layouts`` lost, or written
around the store) reads with empty features instead of failing every read of
its range.
A layout is written before the first row that names it (see
:meth:`~driftd.storage.EventStore.insert_predictions`). Adding columns rewrites no
stored part.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = [
    "MIGRATIONS",
    "RAW_EVENT_TABLES",
    "SCHEMA_TABLE",
    "TTL_TABLES",
    "Migration",
    "apply",
    "latest_version",
    "render",
]

_DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"
_RAW_TTL = "TTL toDateTime(received_at) + INTERVAL {ttl_days} DAY"

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    description String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY version
"""


class Migration(NamedTuple):
    version: int
    description: str
    statements: tuple[str, ...]


_PREDICTIONS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.predictions (
    event_id String,
    model LowCardinality(String),
    model_version LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    request_id String,
    num Map(String, Float64),
    cat Map(String, String),
    nulls Array(String),
    pred_num Nullable(Float64),
    pred_label String,
    pred_proba Map(String, Float64),
    segments Map(String, String),
    latency_ms Nullable(Float64),
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    INDEX src_offset_minmax src_offset TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
ORDER BY (model, timestamp, event_id)
{_RAW_TTL}
{_DEDUP}
"""

_OUTCOMES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.outcomes (
    event_id String,
    model LowCardinality(String),
    request_id String,
    timestamp DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    outcome_num Nullable(Float64),
    outcome_label String,
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64,
    INDEX src_offset_minmax src_offset TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
ORDER BY (model, request_id, timestamp, event_id)
{_RAW_TTL}
{_DEDUP}
"""

_BASELINES = f"""
CREATE TABLE IF NOT EXISTS {{db}}.baselines (
    model LowCardinality(String),
    version String,
    fingerprint String,
    created_at DateTime64(3, 'UTC'),
    n_rows UInt64,
    profile String CODEC(ZSTD(3))
) ENGINE = ReplacingMergeTree
ORDER BY (model, version)
{_DEDUP}
"""

_DRIFT_METRICS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.drift_metrics (
    model LowCardinality(String),
    baseline_version LowCardinality(String),
    window_id UInt64,
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    feature LowCardinality(String),
    metric LowCardinality(String),
    value Float64,
    n UInt32,
    computed_at DateTime64(3, 'UTC'),
    INDEX window_end_minmax window_end TYPE minmax GRANULARITY 1
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (model, baseline_version, feature, metric, window_id)
{_DEDUP}
"""

_DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.dead_letters (
    received_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    reason LowCardinality(String),
    detail String,
    payload String CODEC(ZSTD(3)),
    src_topic LowCardinality(String),
    src_partition Int32,
    src_offset Int64
) ENGINE = MergeTree
ORDER BY (received_at, kind, reason)
{_RAW_TTL}
{_DEDUP}
"""

_DRIFT_RESULTS = f"""
CREATE TABLE IF NOT EXISTS {{db}}.drift_results (
    model LowCardinality(String),
    baseline_version LowCardinality(String),
    window_id UInt64,
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    feature LowCardinality(String),
    metric LowCardinality(String),
    value Float64,
    n UInt32,
    computed_at DateTime64(3, 'UTC'),
    p_value Nullable(Float64),
    effect_size Nullable(Float64),
    severity LowCardinality(String),
    segment LowCardinality(String),
    INDEX window_end_minmax window_end TYPE minmax GRANULARITY 1,
    INDEX severity_set severity TYPE set(4) GRANULARITY 1
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (model, baseline_version, segment, feature, metric, window_id)
{_DEDUP}
"""

_OUTCOMES_LATEST = f"""
CREATE TABLE IF NOT EXISTS {{db}}.outcomes_latest (
    model LowCardinality(String),
    request_id String,
    timestamp DateTime64(3, 'UTC'),
    event_id String,
    received_at DateTime64(3, 'UTC'),
    outcome_num Nullable(Float64),
    outcome_label String
) ENGINE = ReplacingMergeTree(timestamp)
ORDER BY (model, request_id)
{_RAW_TTL}
{_DEDUP}
"""

_OUTCOME_COLUMNS = "model, request_id, timestamp, event_id, received_at, outcome_num, outcome_label"

_OUTCOMES_LATEST_VIEW = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.outcomes_latest_mv TO {{db}}.outcomes_latest
AS SELECT {_OUTCOME_COLUMNS} FROM {{db}}.outcomes
"""

_OUTCOMES_LATEST_BACKFILL = f"""
INSERT INTO {{db}}.outcomes_latest ({_OUTCOME_COLUMNS})
SELECT {_OUTCOME_COLUMNS} FROM {{db}}.outcomes
"""

_OUTCOMES_LATEST_VIEW_DROP = "DROP VIEW IF EXISTS {db}.outcomes_latest_mv"

_OUTCOMES_LATEST_REPAIR = f"""
INSERT INTO {{db}}.outcomes_latest ({_OUTCOME_COLUMNS})
SELECT o.model, o.request_id, o.timestamp, o.event_id, o.received_at, o.outcome_num,
    o.outcome_label
FROM {{db}}.outcomes AS o
LEFT JOIN (
    SELECT model, request_id, max((timestamp, event_id)) AS top, 1 AS found
    FROM {{db}}.outcomes_latest GROUP BY model, request_id
) AS l ON o.model = l.model AND o.request_id = l.request_id
WHERE l.found = 0 OR (o.timestamp, o.event_id) > l.top
SETTINGS join_use_nulls = 0, join_algorithm = 'partial_merge'
"""

_REQUEST_INDEX = (
    "ALTER TABLE {db}.predictions ADD INDEX IF NOT EXISTS request_id_bloom request_id "
    "TYPE bloom_filter(0.01) GRANULARITY 1"
)
_REQUEST_INDEX_BUILD = "ALTER TABLE {db}.predictions MATERIALIZE INDEX request_id_bloom"

_FEATURE_LAYOUTS = """
CREATE TABLE IF NOT EXISTS {db}.feature_layouts (
    layout UInt64,
    num_keys Array(String),
    cat_keys Array(String)
) ENGINE = ReplacingMergeTree
ORDER BY layout
"""

_PREDICTION_VALUES = (
    "ALTER TABLE {db}.predictions "
    "ADD COLUMN IF NOT EXISTS layout UInt64 DEFAULT 0 AFTER cat, "
    "ADD COLUMN IF NOT EXISTS num_values Array(Float64) AFTER layout, "
    "ADD COLUMN IF NOT EXISTS cat_values Array(String) AFTER num_values"
)

_PREDICTION_FEATURES = """
CREATE VIEW IF NOT EXISTS {db}.prediction_features AS
SELECT
    p.event_id AS event_id,
    p.model AS model,
    p.model_version AS model_version,
    p.timestamp AS timestamp,
    p.received_at AS received_at,
    p.request_id AS request_id,
    if(p.layout = 0, p.num, mapFromArrays(
        arraySlice(l.num_keys, 1, length(p.num_values)),
        arraySlice(p.num_values, 1, length(l.num_keys)))) AS num,
    if(p.layout = 0, p.cat, mapFromArrays(
        arraySlice(l.cat_keys, 1, length(p.cat_values)),
        arraySlice(p.cat_values, 1, length(l.cat_keys)))) AS cat,
    p.nulls AS nulls,
    p.pred_num AS pred_num,
    p.pred_label AS pred_label,
    p.pred_proba AS pred_proba,
    p.segments AS segments,
    p.latency_ms AS latency_ms,
    p.src_topic AS src_topic,
    p.src_partition AS src_partition,
    p.src_offset AS src_offset
FROM {db}.predictions AS p
LEFT JOIN (
    SELECT layout, any(num_keys) AS num_keys, any(cat_keys) AS cat_keys
    FROM {db}.feature_layouts GROUP BY layout
) AS l ON p.layout = l.layout
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "predictions, outcomes, baselines, drift_metrics",
        (_PREDICTIONS, _OUTCOMES, _BASELINES, _DRIFT_METRICS),
    ),
    Migration(2, "dead_letters (the dead-letter sink without Kafka)", (_DEAD_LETTERS,)),
    Migration(
        3,
        "drift_results: p-value, effect size, severity and segment of every window's result",
        (_DRIFT_RESULTS,),
    ),
    Migration(
        4,
        "outcome join: outcomes_latest per (model, request_id), bloom index on request_id",
        (
            _OUTCOMES_LATEST,
            _OUTCOMES_LATEST_VIEW,
            _OUTCOMES_LATEST_BACKFILL,
            _REQUEST_INDEX,
            _REQUEST_INDEX_BUILD,
        ),
    ),
    Migration(
        5,
        "outcomes_latest written by the store before outcomes (no view): crash-consistent",
        (_OUTCOMES_LATEST_VIEW_DROP, _OUTCOMES_LATEST_REPAIR),
    ),
    Migration(
        6,
        "feature values without their names: feature_layouts, the prediction_features view",
        (_FEATURE_LAYOUTS, _PREDICTION_VALUES, _PREDICTION_FEATURES),
    ),
)

RAW_EVENT_TABLES = ("predictions", "outcomes")
TTL_TABLES = (*RAW_EVENT_TABLES, "dead_letters", "outcomes_latest")


def latest_version() -> int:
    """The version the code expects.

    >>> latest_version() == MIGRATIONS[-1].version
    True
    """
    return MIGRATIONS[-1].version


def render(statement: str, *, db: str, ttl_days: int) -> str:
    """Fill a statement template.

    >>> render("DROP TABLE {db}.t -- {ttl_days}", db="driftd", ttl_days=7)
    'DROP TABLE driftd.t -- 7'
    """
    return statement.format(db=db, ttl_days=ttl_days)


_TTL_DAYS = re.compile(r"toIntervalDay\((\d+)\)")


def apply(client: Client, *, db: str, ttl_days: int) -> int:
    """Apply every pending migration in order, align the raw-event TTL; return the version.

    The TTL is a setting, not a migration: when ``ttl_days`` differs from the
    tables' TTL it is changed in place (``MODIFY TTL``).
    """
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(render(SCHEMA_TABLE, db=db, ttl_days=ttl_days))
    current = int(str(client.command(f"SELECT max(version) FROM {db}.schema_migrations")))
    for migration in MIGRATIONS:
        if migration.version > current:
            for statement in migration.statements:
                client.command(render(statement, db=db, ttl_days=ttl_days))
            client.insert(
                f"{db}.schema_migrations",
                [[migration.version], [migration.description]],
                column_names=("version", "description"),
                column_type_names=("UInt32", "String"),
                column_oriented=True,
            )
    for table in TTL_TABLES:
        engine = client.query(
            "SELECT engine_full FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": db, "t": table},
        ).result_rows[0][0]
        found = _TTL_DAYS.search(str(engine))
        if found is None or int(found.group(1)) != ttl_days:
            client.command(
                f"ALTER TABLE {db}.{table} MODIFY TTL "
                f"toDateTime(received_at) + INTERVAL {ttl_days} DAY"
            )
    return max(current, latest_version())
