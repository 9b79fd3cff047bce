"""Device-panel queries with and without the ``events(device_id, type, timestamp)`` index (migration 0005).

Takes a SQLite hub seeded by ``bench/console_seed.py`` (``console_bench.py --reuse FILE`` leaves one)
before migration 0005, copies it twice, upgrades one copy to 0004 and the other to head (timing the index build), and times the
device page's panel queries (:func:`edgesight.hub.console.panels.device_panels`: queue advice,
restock and hazard events of one device over 24 h, plus the heatmap) on both copies, interleaved,
on the same random devices. Figures are process CPU time per call (they hold on a shared machine).

    .venv/bin/python bench/events_index_bench.py --seeded /tmp/cb/seed.sqlite3
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from alembic import command
from sqlalchemy import text

from _common import machine_description, table
from edgesight.hub.console import panels
from edgesight.hub.storage import Database
from edgesight.hub.storage.db import alembic_config


def _cpu_ms(db: Database, device_id: str, now: float) -> float:
    t0 = time.process_time()
    panels.device_panels(db, device_id, now)
    return (time.process_time() - t0) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeded", type=Path, required=True, help="a seeded SQLite hub before migration 0005")
    ap.add_argument("--runs", type=int, default=60, help="calls per copy")
    args = ap.parse_args()
    print(table(["machine", ""], machine_description()), flush=True)
    with tempfile.TemporaryDirectory(prefix="events-index-") as tmp:
        before, after = Path(tmp) / "0004.sqlite3", Path(tmp) / "0005.sqlite3"
        shutil.copy(args.seeded, before)
        shutil.copy(args.seeded, after)
        plain, indexed = Database(f"sqlite:///{before}"), Database(f"sqlite:///{after}")
        command.upgrade(alembic_config(plain.url), "0004")
        with plain.engine.connect() as conn:
            n_events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            ids = [r[0] for r in conn.execute(text("SELECT id FROM devices ORDER BY id"))]
            now = float(conn.execute(text("SELECT max(timestamp) FROM events")).scalar_one())
        t0 = time.perf_counter()
        indexed.migrate()
        build_s = time.perf_counter() - t0
        rng = random.Random(5)
        devices = [rng.choice(ids) for _ in range(args.runs)]
        for db in (plain, indexed):  # warm the page cache of both files alike
            for device_id in devices[:5]:
                _cpu_ms(db, device_id, now)
        times: dict[str, list[float]] = {"0004 (no index)": [], "0005 (index)": []}
        for device_id in devices:
            times["0004 (no index)"].append(_cpu_ms(plain, device_id, now))
            times["0005 (index)"].append(_cpu_ms(indexed, device_id, now))
        rows = [(k, len(v), statistics.median(v), sorted(v)[int(0.95 * (len(v) - 1))]) for k, v in times.items()]
        print(f"\n{n_events} events, {len(ids)} devices; migration 0005 (index build) took {build_s:.1f} s wall\n")
        print(table(["schema", "calls", "device_panels CPU ms p50", "p95"], rows))
        plain.close()
        indexed.close()


if __name__ == "__main__":
    main()
