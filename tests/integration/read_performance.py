"""Print a model's stored performance per window as JSON (run as a separate process).

Usage: python read_performance.py CHDB_URL DATABASE MODEL
"""

from __future__ import annotations

import json
import sys

from driftd.monitoring.perf_windows import OUTCOME_FEATURE
from driftd.storage import EventStore


def main() -> None:
    url, database, model = sys.argv[1:4]
    store = EventStore.connect(url, database)
    try:
        out: dict[str, dict[str, list[float]]] = {}
        for r in store.query_drift(model, 0, 2**62, feature=OUTCOME_FEATURE):
            if r.segment == "":
                out.setdefault(str(r.window_id), {})[r.metric] = [r.value, r.n]
        print(json.dumps(out))
    finally:
        store.close()


if __name__ == "__main__":
    main()
