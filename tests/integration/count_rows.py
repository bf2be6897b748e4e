"""Print row counts of a driftd embedded store as JSON (run as a separate process).

Usage: python count_rows.py CHDB_URL DATABASE [MODEL]
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from driftd.storage import EventStore


def main() -> None:
    url, database = sys.argv[1], sys.argv[2]
    model = sys.argv[3] if len(sys.argv) > 3 else None
    store = EventStore.connect(url, database)
    try:
        drift = store.query_drift(model, 0, 2**62, metric="psi") if model else []
        per_window = Counter(r.window_id for r in drift if r.feature == "income")
        print(
            json.dumps(
                {
                    "predictions": store.count("predictions"),
                    "distinct": store.count_distinct_event_ids("predictions"),
                    "windows": sorted(per_window),
                    "window_sizes": sorted({r.n for r in drift}),
                    "duplicate_windows": [w for w, c in per_window.items() if c > 1],
                }
            )
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
