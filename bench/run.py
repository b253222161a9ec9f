"""One benchmark run: for each scale, generate, then measure knewwhen and its references side by side.

Writers are interleaved per repeat (raw limit, peer, knewwhen) and so are readers (raw read,
peer read, replay, each replay followed by replay's floor: its rows written by the driver
alone), so drift on a shared machine hits each side alike; the last knewwhen import is the
database every read is asked of.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.databases import Databases
from bench.generate import Shape, generate
from bench.measure_http import HttpPlan, measure_http
from bench.measure_import import ImportJob, ReplayJob
from bench.measure_peer import PeerJob
from bench.measure_queries import QueryJob
from bench.measure_raw import RawJob
from bench.measure_rows import RowsJob
from bench.measure_verify import VerifyJob
from bench.questions import knowledge_path, sample_questions
from bench.stats import figure
from bench.worker import run_task
from service.application import Ledger

Figures = dict[str, dict[str, Any]]


def say(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Scale:
    """The measurements of one scale, collected run by run."""

    def __init__(
        self,
        config: Config,
        events: int,
        folder: Path,
        databases: Databases,
        progress: Callable[[str], None],
        smallest_copy: str | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.events = events
        self.folder = folder
        self.databases = databases
        # A copy of the smallest scale's database as its queries found it: its queries are
        # timed again alternately with this scale's, so knowledge_p50_growth compares two
        # figures of one phase of the run, not of phases minutes apart.
        self.smallest_copy = smallest_copy
        self.reference: str | None = None
        self.runs: dict[str, list[float]] = {}
        self.units: dict[str, str] = {}
        self.extra: dict[str, Any] = {}

    def add(self, name: str, value: float, unit: str) -> None:
        """Record one run of a figure."""
        self.runs.setdefault(name, []).append(float(value))
        self.units[name] = unit

    def task(self, name: str, job: Any) -> dict[str, Any]:
        """Run a measurement (in a child process unless configured in-process)."""
        started = time.perf_counter()
        result = run_task(name, job, self.config.in_process)
        self.progress(f"{self.events:>9} events  {name:<10} {time.perf_counter() - started:7.1f} s")
        return result

    def figures(self) -> Figures:
        """Every figure: median and spread over its runs."""
        return {name: figure(runs, self.units[name]) for name, runs in sorted(self.runs.items())}

    def measure(self) -> None:
        """Generate, write, read, query and serve at this scale."""
        config, databases = self.config, self.databases
        started = time.perf_counter()
        shape = Shape(
            self.events, config.events_per_story, config.claims_per_story, seed=config.seed
        )
        generated = generate(shape, self.folder)
        self.extra["generated"] = generated.summary()
        self.add("generate_seconds", time.perf_counter() - started, "s")
        file = str(generated.path)
        main = raw = peer = ""
        for repeat in range(config.write_repeats(self.events)):
            for old in (main, raw, peer):
                if old:
                    databases.drop(old)
            raw = databases.fresh(f"raw{self.events}_{repeat}")
            found = self.task("raw_insert", RawJob(raw, file))
            self.add("raw_insert_rows_per_s", found["rows_per_s"], "rows/s")
            peer = databases.fresh(f"peer{self.events}_{repeat}")
            found = self.task("peer_save", PeerJob(peer, file))
            self.add("peer_save_events_per_s", found["events_per_s"], "events/s")
            self.add_rss("peer_save_peak_rss_mb", found)
            main = databases.fresh(f"kw{self.events}_{repeat}")
            found = self.task("import", ImportJob(main, file))
            if found["events"] != self.events:
                raise RuntimeError(f"import stored {found['events']} of {self.events} events")
            self.add("import_events_per_s", found["events_per_s"], "events/s")
            self.add("import_seconds", found["seconds"], "s")
            self.add_rss("import_peak_rss_mb", found)
            if "checking_child_peak_rss_mb" in found:
                self.add("import_child_peak_rss_mb", found["checking_child_peak_rss_mb"], "MiB")
        self.add("database_mb", databases.size(main) / 2**20, "MiB")
        self.add("raw_database_mb", databases.size(raw) / 2**20, "MiB")
        self.add("peer_database_mb", databases.size(peer) / 2**20, "MiB")
        for _ in range(config.repeats):
            found = self.task("raw_read", RawJob(raw))
            self.add("raw_read_rows_per_s", found["rows_per_s"], "rows/s")
            found = self.task("peer_read", PeerJob(peer))
            self.add("peer_read_events_per_s", found["events_per_s"], "events/s")
        databases.drop(raw)
        databases.drop(peer)
        for _ in range(config.write_repeats(self.events)):
            found = self.task("replay", ReplayJob(main))
            self.add("replay_events_per_s", found["events_per_s"], "events/s")
            self.add_rss("replay_peak_rss_mb", found)
            self.add("replay_fold_workers", found["fold_workers"], "processes")
            if "worker_peak_rss_mb" in found:
                self.add("replay_worker_peak_rss_mb", found["worker_peak_rss_mb"], "MiB")
            rows = databases.fresh(f"rows{self.events}")
            found = self.task("rows_write", RowsJob(main, rows))
            self.add("rows_write_events_per_s", found["events_per_s"], "events/s")
            databases.drop(rows)
        found = self.task("verify", VerifyJob(main))
        self.add("verify_events_per_s", found["events_per_s"], "events/s")
        self.add("verify_seconds", found["seconds"], "s")
        self.add_rss("verify_peak_rss_mb", found)
        if "worker_peak_rss_mb" in found:
            self.add("verify_worker_peak_rss_mb", found["worker_peak_rss_mb"], "MiB")
        for repeat in range(config.repeats):
            questions = (
                config.seed + repeat,
                config.knowledge_queries,
                config.claim_queries,
                config.naive_queries,
            )
            self.add_queries(self.task("queries", QueryJob(main, *questions)))
            if self.smallest_copy:
                found = self.task("queries", QueryJob(self.smallest_copy, *questions))
                self.add("knowledge_p50_us_at_smallest", found["knowledge"]["p50_us"], "µs")
        if len(config.scales) > 1 and self.events == min(config.scales):
            self.reference = databases.copy(main, f"reference{self.events}")  # before any POST
        if config.http:
            self.measure_http(main)
        if not config.keep:
            databases.drop(main)

    def add_rss(self, name: str, found: dict[str, Any]) -> None:
        """The child's peak RSS (absent in-process, where it would not be the run's own)."""
        if "peak_rss_mb" in found:
            self.add(name, found["peak_rss_mb"], "MiB")

    def add_queries(self, found: dict[str, Any]) -> None:
        """Latency figures of one queries run."""
        for kind in ("knowledge", "claim_status", "claim_history", "naive"):
            self.add(f"{kind}_p50_us", found[kind]["p50_us"], "µs")
            self.add(f"{kind}_p99_us", found[kind]["p99_us"], "µs")
        self.add("naive_mismatches", found["naive_mismatches"], "answers")
        self.add("mean_claims_per_answer", found["mean_claims_per_answer"], "claims")
        self.add("mean_event_ids_per_answer", found["mean_event_ids_per_answer"], "event ids")
        self.add("mean_answer_kib", found["mean_answer_bytes"] / 1024, "KiB")
        self.add_rss("queries_peak_rss_mb", found)

    def measure_http(self, database: str) -> None:
        """GET knowledge vs hello, POST single events, server memory."""
        config = self.config
        ledger = Ledger(database)
        try:
            questions = sample_questions(ledger, config.seed + 1000, 1000)
        finally:
            ledger.close()
        plan = HttpPlan(
            seconds=config.http_seconds,
            warmup=config.http_warmup,
            connections=config.http_connections,
            repeats=config.repeats,
            posts=config.posts,
            seed=config.seed,
        )
        started = time.perf_counter()
        found = measure_http(database, [knowledge_path(q) for q in questions], plan, self.folder)
        self.progress(f"{self.events:>9} events  http       {time.perf_counter() - started:7.1f} s")
        self.extra["load_generator"] = found["load_generator"]
        for run in found["hello"]:
            self.add("http_hello_requests_per_s", run["requests_per_s"], "requests/s")
            self.add("http_hello_p99_us", run["p99_us"], "µs")
        for run in found["knowledge"]:
            self.add("http_knowledge_requests_per_s", run["requests_per_s"], "requests/s")
            self.add("http_knowledge_p50_us", run["p50_us"], "µs")
            self.add("http_knowledge_p99_us", run["p99_us"], "µs")
            self.add("http_knowledge_errors", run["errors"], "responses")
        for run in found["knowledge_uncached"]:
            self.add("http_uncached_requests_per_s", run["requests_per_s"], "requests/s")
            self.add("http_uncached_p99_us", run["p99_us"], "µs")
        for run in found["knowledge_one_connection"]:
            self.add("http_knowledge_c1_requests_per_s", run["requests_per_s"], "requests/s")
            self.add("http_knowledge_c1_p50_us", run["p50_us"], "µs")
        for load, name in (("post", "http_post"), ("post_busy", "http_post_busy")):
            for run in found[load]:
                self.add(f"{name}_events_per_s", run["requests_per_s"], "events/s")
                self.add(f"{name}_p99_us", run["p99_us"], "µs")
                failed = sum(v for k, v in run["statuses"].items() if k not in ("200", "201"))
                self.add(f"{name}_errors", failed, "responses")
        self.add("serve_idle_rss_mb", found["server_idle"]["rss_mb"], "MiB")
        self.add("serve_rss_mb", found["server_after_gets"]["rss_mb"], "MiB")
        self.add("serve_peak_rss_mb", found["server_after_posts"]["hwm_mb"], "MiB")


def run(config: Config, progress: Callable[[str], None] = say) -> dict[str, Any]:
    """Measure every scale; per scale, its figures and what was generated."""
    folder = Path(config.workdir or tempfile.mkdtemp(prefix="knewwhen-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    databases = Databases(config.database, folder)
    progress(f"work folder {folder}; database kind {databases.kind}")
    scales: dict[int, Scale] = {}
    try:
        smallest_copy: str | None = None
        for events in sorted(config.scales):
            scale = Scale(config, events, folder, databases, progress, smallest_copy)
            scale.measure()
            scales[events] = scale
            smallest_copy = smallest_copy or scale.reference
    finally:
        if not config.keep:
            databases.drop_all()
            if config.workdir is None:
                shutil.rmtree(folder, ignore_errors=True)
    return {
        "database": databases.kind,
        "scales": {
            str(events): {"figures": s.figures(), **s.extra} for events, s in scales.items()
        },
    }
