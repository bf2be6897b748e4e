"""Profile training data — a DataFrame, a CSV or a Parquet file — in bounded memory.

One builder serves every source. It reads the rows twice, in chunks:

1. per column: null count, exact sum, min and max, a seeded sample of up to
   ``quantile_sample`` values (a bottom-k sample keyed by row number: exact
   when the column is smaller, and its first ``sample_size`` values by key are
   the KS sample), category counts in a bounded dictionary. Then the bin edges
   are fixed (quantiles of that sample), the mean, and the top-K categories.
2. exact bin and category counts against those fixed edges and categories, and
   the exact sum of squared deviations from the mean (for ``std``, ``ddof=1``).

Memory is O(``chunk_rows`` + columns * (``quantile_sample`` + category
capacity)), whatever the file size. Every summary ignores how the rows were
chunked (see :mod:`driftd.detectors.sketches`), so the same rows in the same
order give the same profile and fingerprint from any source and chunk size.

Type rule (:func:`~driftd.detectors.columns.is_numeric_dtype`): integer and
float columns are numeric, anything else categorical. A CSV column whose
chunks disagree (numbers here, text there) is re-read as text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from driftd.detectors.columns import (
    ColumnSummary,
    MixedTypesError,
    ProfileOptions,
    is_numeric_dtype,
)
from driftd.detectors.profiles import (
    PREDICTION_KEY,
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
)
from driftd.errors import BaselineError

__all__ = [
    "PREDICTED_CLASS",
    "BaselineProfile",
    "CategoricalProfile",
    "NumericProfile",
    "ProfileOptions",
    "is_numeric_dtype",
    "profile_dataframe",
    "profile_file",
]

PREDICTED_CLASS = "predicted_class"
"""The derived prediction column of a baseline given class probabilities and no label column."""

_BLOCK_ROWS = 65_536  # category dictionaries are compacted at multiples of this row number
_CSV = (".csv", ".csv.gz")
_PARQUET = (".parquet", ".pq")

Chunks = Callable[[], Iterator[pd.DataFrame]]


class _Builder:
    """The two-pass profiler shared by :func:`profile_dataframe` and :func:`profile_file`."""

    def __init__(
        self,
        model: str,
        version: str,
        columns: Sequence[object],
        *,
        prediction: str | None,
        label: str | None,
        features: Sequence[str] | None,
        metrics: Mapping[str, float] | None,
        options: ProfileOptions,
        ignore: Sequence[str] = (),
    ) -> None:
        self.ignore = list(ignore)
        self.probabilities = dict(options.probabilities)
        if self.probabilities and prediction is None:
            prediction = PREDICTED_CLASS  # derived: the class of highest probability
        self.derive = bool(self.probabilities) and prediction == PREDICTED_CLASS
        self.model, self.version = model, version
        self.prediction, self.label = prediction, label
        self.metrics = dict(metrics or {})
        self.options_categorical = sorted(options.categorical)
        if self.derive:
            if PREDICTED_CLASS in columns:
                raise self._error(f"column {PREDICTED_CLASS!r} is reserved with probabilities")
            columns = [*columns, PREDICTED_CLASS]
        probability_columns = list(self.probabilities.values())
        self.features = [
            c
            for c in self._resolve(list(columns), features, probability_columns)
            if c not in probability_columns
        ]
        names = [
            *self.features,
            *probability_columns,
            *(c for c in (prediction, label) if c is not None),
        ]
        self.columns = {name: ColumnSummary(name, options) for name in names}

    def read_columns(self) -> list[str]:
        """The columns to read from the data (a derived predicted class is not in it)."""
        return [c for c in self.columns if not (self.derive and c == PREDICTED_CLASS)]

    def _error(self, message: str) -> BaselineError:
        return BaselineError(message, model=self.model, version=self.version)

    def _resolve(
        self, columns: list[object], features: Sequence[str] | None, extra: Sequence[str] = ()
    ) -> list[str]:
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise self._error("column names must be distinct strings")
        targets = [c for c in (self.prediction, self.label) if c is not None]
        if len(set(targets)) != len(targets):
            raise self._error("prediction and label must be different columns")
        chosen = [c for c in columns if c not in targets] if features is None else list(features)
        chosen = [c for c in chosen if c not in self.ignore]
        for name in [*targets, *chosen, *self.ignore, *self.options_categorical, *extra]:
            if name not in columns:
                raise self._error(f"column {name!r} not found; the data has {columns}")
        if len(set(chosen)) != len(chosen) or set(chosen) & set(targets):
            raise self._error("features must be distinct and exclude prediction and label")
        if not chosen:
            raise self._error("no feature columns to profile")
        if PREDICTION_KEY in chosen:
            raise self._error(f"{PREDICTION_KEY!r} is reserved and cannot name a feature")
        return [str(c) for c in chosen]

    def _read(self, chunks: Chunks, step: Callable[[pd.DataFrame, int], None]) -> int:
        rows = 0
        for raw in chunks():
            step(self._derived(raw), rows)
            rows += len(raw)
        return rows

    def _derived(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with the predicted class (the top probability's class) when derived."""
        if not self.derive:
            return chunk
        classes = dict(zip(self.probabilities.values(), self.probabilities, strict=True))
        top = chunk[list(classes)].idxmax(axis=1)
        return chunk.assign(**{PREDICTED_CLASS: top.map(classes)})

    def _scan(self, chunk: pd.DataFrame, first_row: int) -> None:
        offset = 0
        while offset < len(chunk):  # pieces end at multiples of _BLOCK_ROWS
            row = first_row + offset
            stop = min(len(chunk), offset + _BLOCK_ROWS - row % _BLOCK_ROWS)
            for column in self.columns.values():
                column.scan(chunk[column.name].iloc[offset:stop], row)
            if (first_row + stop) % _BLOCK_ROWS == 0:
                for column in self.columns.values():
                    column.compact()
            offset = stop

    def _tally(self, chunk: pd.DataFrame, first_row: int) -> None:
        for column in self.columns.values():
            column.tally(chunk[column.name])

    def run(self, chunks: Chunks) -> BaselineProfile:
        """Both passes over ``chunks()``; errors carry the model and version."""
        try:
            return self._run(chunks)
        except BaselineError as exc:
            exc.model, exc.version = self.model, self.version
            raise

    def _run(self, chunks: Chunks) -> BaselineProfile:
        n_rows = self._read(chunks, self._scan)
        if n_rows == 0:
            raise self._error("the data has no rows")
        for column in self.columns.values():
            column.fix()
        if self._read(chunks, self._tally) != n_rows:
            raise self._error("the data changed between the two passes")
        profiles = {name: column.profile(n_rows) for name, column in self.columns.items()}
        return BaselineProfile(
            model=self.model,
            version=self.version,
            n_rows=n_rows,
            features={name: profiles[name] for name in self.features},
            prediction=None if self.prediction is None else profiles[self.prediction],
            label=None if self.label is None else profiles[self.label],
            metrics=self.metrics,
            probabilities={c: profiles[column] for c, column in self.probabilities.items()},
        )


def profile_dataframe(
    df: pd.DataFrame,
    model: str,
    version: str,
    *,
    prediction: str | None = None,
    label: str | None = None,
    features: Sequence[str] | None = None,
    metrics: Mapping[str, float] | None = None,
    chunk_rows: int = 100_000,
    options: ProfileOptions | None = None,
    ignore: Sequence[str] = (),
) -> BaselineProfile:
    """Profile an in-memory DataFrame (``features=None``: all but prediction and label)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")

    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, len(df), chunk_rows):
            yield df.iloc[start : start + chunk_rows]

    builder = _Builder(
        model, version, list(df.columns), prediction=prediction, label=label,
        features=features, metrics=metrics, options=options or ProfileOptions(), ignore=ignore,
    )  # fmt: skip
    return builder.run(chunks)


def profile_file(
    path: str | os.PathLike[str],
    model: str,
    version: str,
    *,
    prediction: str | None = None,
    label: str | None = None,
    features: Sequence[str] | None = None,
    metrics: Mapping[str, float] | None = None,
    chunk_rows: int = 100_000,
    options: ProfileOptions | None = None,
    ignore: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> BaselineProfile:
    """Profile a ``.csv`` (``.csv.gz``) or ``.parquet`` (``.pq``) file, streaming it twice.

    ``progress(pass_number, rows)`` is called as each pass (1 or 2) starts,
    with 0 rows, and after each chunk with the rows read so far in that pass.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    source = Path(path)
    name = source.name.lower()
    if not name.endswith(_CSV + _PARQUET):
        raise BaselineError(
            f"unsupported file type {source.name!r}: use .csv or .parquet",
            model=model, version=version,
        )  # fmt: skip
    if not source.is_file():
        raise BaselineError(f"baseline file not found: {source}", model=model, version=version)
    reader = _ParquetReader(source) if name.endswith(_PARQUET) else _CsvReader(source)
    try:
        columns = reader.columns()
    except (OSError, ValueError) as exc:
        raise BaselineError(f"cannot read {source}: {exc}", model=model, version=version) from exc
    while True:
        builder = _Builder(
            model, version, columns, prediction=prediction, label=label,
            features=features, metrics=metrics, options=options or ProfileOptions(),
            ignore=ignore,
        )  # fmt: skip
        try:
            chunks = partial(reader.chunks, builder.read_columns(), chunk_rows)
            return builder.run(chunks if progress is None else _counted(chunks, progress))
        except MixedTypesError as exc:
            if not isinstance(reader, _CsvReader) or exc.column in reader.text_columns:
                raise
            reader.text_columns.add(exc.column)


def _counted(chunks: Chunks, progress: Callable[[int, int], None]) -> Chunks:
    """``chunks`` reporting each chunk to ``progress`` (pass number, rows so far)."""
    passes = 0

    def counted() -> Iterator[pd.DataFrame]:
        nonlocal passes
        passes += 1
        rows = 0
        progress(passes, rows)  # the pass starts: its rate is counted from here
        for chunk in chunks():
            yield chunk
            rows += len(chunk)
            progress(passes, rows)

    return counted


class _CsvReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text_columns: set[str] = set()  # read as strings: their chunks disagreed

    def columns(self) -> list[object]:
        return list(pd.read_csv(self.path, nrows=0).columns)

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        dtype = {c: str for c in self.text_columns if c in columns}
        try:
            with pd.read_csv(
                self.path, usecols=columns, chunksize=chunk_rows, dtype=dtype or None
            ) as reader:
                yield from reader
        except (OSError, ValueError) as exc:
            raise BaselineError(f"cannot read {self.path}: {exc}") from exc


class _ParquetReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def columns(self) -> list[object]:
        with pq.ParquetFile(self.path) as parquet:
            schema = parquet.schema_arrow
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        return [c for c in schema.names if c not in index]

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            with pq.ParquetFile(self.path) as parquet:
                for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                    yield batch.to_pandas()
        except (OSError, ValueError) as exc:
            raise BaselineError(f"cannot read {self.path}: {exc}") from exc
