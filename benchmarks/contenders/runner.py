"""Start each end-to-end contender in its own process against one simulator process and collect
wall time, CPU seconds, peak RSS, rows stored and the requests the simulator saw.

By default every contender gets the benchmark's fixed settings (batch size with discovery off,
checkpoint size, gap tolerance); ``Contenders(..., product_defaults=True)`` leaves those
at session-audit's defaults (batch-size discovery on), as a new user would run it."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from benchmarks.measure import ChildRun, clean_env, python_cmd, run_child
from benchmarks.simproc import SimulatorProcess
from benchmarks.sizes import Sizes
from benchmarks.sqlfiles import bench_sql


@dataclass(frozen=True)
class Measured:
    """One contender's run."""

    name: str
    seconds: float
    peak_rss_mb: float
    rows: int
    requests: int
    inner_seconds: float | None = None  # the contender's own timing, without process start-up
    extra: dict[str, Any] | None = None
    cpu_seconds: float = 0.0  # user + system CPU of the contender's process


def session_audit_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("session-audit")
    if script.exists():
        return [str(script), *args]
    return python_cmd("session_audit", *args)


class Contenders:
    """The contenders of one simulator, each run in a fresh process and a fresh database."""

    def __init__(
        self,
        sim: SimulatorProcess,
        sizes: Sizes,
        workdir: Path,
        *,
        product_defaults: bool = False,
    ) -> None:
        self.sim = sim
        self.sizes = sizes
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        stats = sim.stats()
        if stats.first_session_id is None or stats.max_session_id is None:
            raise RuntimeError("the simulator has no sessions")
        self.first_id = stats.first_session_id
        self.max_id = stats.max_session_id
        self.sessions = stats.sessions
        self.malformed = stats.malformed
        fixed = {
            "SESSION_AUDIT_BATCH_SIZE": str(sizes.batch),
            "SESSION_AUDIT_BATCH_DISCOVERY": "false",
            "SESSION_AUDIT_CHECKPOINT_IDS": str(sizes.checkpoint_ids),
            "SESSION_AUDIT_GAP_TOLERANCE": str(sizes.gap_tolerance),
        }
        self.env = clean_env(
            sim.env(
                SESSION_AUDIT_CONCURRENCY=str(sizes.concurrency),
                **({} if product_defaults else fixed),
            )
        )
        self.env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        self.env["RUNTIME__LOG_LEVEL"] = "WARNING"
        self.scan_last_id: int | None = None  # the last id our scan asked for

    def _measure(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> tuple[ChildRun, int]:
        before = self.sim.stats()
        run = run_child(cmd, env=env or self.env)
        requests = self.sim.stats().minus(before)["total"]
        return run, requests

    def fresh(self, name: str) -> Path:
        path = self.workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        return path

    def ours(self, tag: str = "ours", *, db: Path | None = None) -> Measured:
        """``session-audit ingest`` (a first scan from the first id, or a rerun of ``db``)."""
        args = ["ingest", "--no-progress"]
        if db is None:
            db = self.fresh(f"{tag}.duckdb")
            args += ["--start-id", str(self.first_id)]
        run, requests = self._measure(tag, session_audit_cmd(*args, "--db", str(db)))
        with duckdb.connect(str(db), read_only=True) as conn:
            rows_row = conn.execute(bench_sql("session_row_count")).fetchone()
            cursor = conn.execute(bench_sql("ours_last_run"))
            names = [d[0] for d in cursor.description or ()]
            last = dict(zip(names, cursor.fetchone() or (), strict=False))
            batch_row = conn.execute(bench_sql("ours_batch_size")).fetchone()
        last["batch_size"] = batch_row[0] if batch_row else None
        if last.get("last_id") is not None and self.scan_last_id is None:
            self.scan_last_id = int(last["last_id"])
        inner = _completed_seconds(run.stdout)
        return Measured(
            tag,
            run.seconds,
            run.peak_rss_mb,
            int(rows_row[0]) if rows_row else 0,
            requests,
            inner,
            {"db": str(db), "run": last},
            run.cpu_seconds,
        )

    def last_id(self) -> int:
        """The id range end every other contender fetches: where our scan stopped."""
        if self.scan_last_id is not None:
            return self.scan_last_id
        return self.max_id + self.sizes.gap_tolerance * self.sizes.batch

    def fetch_floor(self) -> Measured:
        """Async httpx over [first id, :meth:`last_id`] (the range our scan asked for)."""
        cmd = python_cmd(
            "benchmarks.contenders.fetch_floor",
            "--first",
            str(self.first_id),
            "--last",
            str(self.last_id()),
            "--batch",
            str(self.sizes.batch),
            "--concurrency",
            str(self.sizes.concurrency),
        )
        run, requests = self._measure("floor", cmd)
        line = orjson.loads(run.last_line())
        return Measured(
            "fetch floor",
            run.seconds,
            run.peak_rss_mb,
            0,
            requests,
            float(line["inner_seconds"]),
            line,
            run.cpu_seconds,
        )

    def dlt(
        self,
        mode: str,
        *,
        last: int | None = None,
        batch: int | None = None,
        gap: int | None = None,
    ) -> Measured:
        """A dlt pipeline over [first id, ``last``] (default :meth:`last_id`), ``batch`` ids per
        call (default the benchmark's); naive stops after ``gap`` empty pages (default the
        benchmark's gap tolerance)."""
        db = self.fresh(f"dlt_{mode}.duckdb")
        pipelines = self.fresh(f"dlt_{mode}_pipelines")
        cmd = python_cmd(
            "benchmarks.contenders.dlt_pipeline",
            "--mode",
            mode,
            "--db",
            str(db),
            "--pipelines-dir",
            str(pipelines),
            "--first",
            str(self.first_id),
            "--last",
            str(self.last_id() if last is None else last),
            "--batch",
            str(self.sizes.batch if batch is None else batch),
            "--gap",
            str(self.sizes.gap_tolerance if gap is None else gap),
        )
        env = dict(self.env)
        if mode == "tuned":
            env["EXTRACT__WORKERS"] = str(self.sizes.concurrency)
        run, requests = self._measure(f"dlt {mode}", cmd, env)
        line = orjson.loads(run.last_line())
        return Measured(
            f"dlt {mode}",
            run.seconds,
            run.peak_rss_mb,
            int(line["rows"]),
            requests,
            float(line["inner_seconds"]),
            None,
            run.cpu_seconds,
        )

    def ingest_mode(self, mode: str) -> Measured:
        """The plain function or the Prefect flow (benchmarks.contenders.ingest_modes)."""
        db = self.fresh(f"mode_{mode}.duckdb")
        env = dict(self.env)
        if mode == "flow":
            env["PREFECT_HOME"] = str(self.fresh("prefect_home"))
        cmd = python_cmd(
            "benchmarks.contenders.ingest_modes",
            "--mode",
            mode,
            "--db",
            str(db),
            "--start-id",
            str(self.first_id),
        )
        run, requests = self._measure(mode, cmd, env)
        line = orjson.loads(run.last_line())
        return Measured(
            mode,
            run.seconds,
            run.peak_rss_mb,
            int(line["inserted"]),
            requests,
            float(line["run_seconds"]),
            line,
            run.cpu_seconds,
        )


def _completed_seconds(stdout: str) -> float | None:
    """The run time `session-audit ingest` prints ("... completed in 2.4 s")."""
    for line in stdout.splitlines():
        if " in " in line and line.rstrip().endswith(" s"):
            try:
                return float(line.rsplit(" in ", 1)[1].split()[0])
            except ValueError:
                return None
    return None


def best(runs: list[Measured]) -> Measured:
    """The fastest of repeated runs (the least disturbed by other load on the machine)."""
    return min(runs, key=lambda m: m.seconds)
