"""Ratios from the figures of one run, judged against the targets of issue 6; the results file
and the Markdown tables."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

RATIO_KEYS = (
    "import_vs_raw",
    "import_vs_peer",
    "replay_vs_raw",
    "knowledge_p50_growth",
    "claim_status_p50_us",
    "knowledge_p50_ms",
    "http_vs_hello",
    "naive_vs_knewwhen",
)


class Target(NamedTuple):
    """A bound on one ratio (or figure) and what it says."""

    key: str
    op: str
    bound: float
    says: str


TARGETS = (
    Target("import_vs_raw", ">=", 0.25, "import events/s ÷ raw batch insert rows/s"),
    Target("import_vs_peer", ">=", 1.0, "import events/s ÷ bare eventsourcing save events/s"),
    Target("replay_vs_raw", ">=", 0.3, "replay events/s ÷ raw SELECT + msgspec decode rows/s"),
    Target(
        "knowledge_p50_growth",
        "<=",
        1.5,
        "knowledge p50, largest ÷ smallest scale, their queries alternated in one phase",
    ),
    Target("claim_status_p50_us", "<=", 100, "claim status at (T, R), in-process p50 (µs)"),
    Target("knowledge_p50_ms", "<=", 2, "knowledge at T, in-process p50 (ms)"),
    Target("http_vs_hello", ">=", 0.5, "GET knowledge req/s ÷ hello-world req/s"),
    Target("naive_vs_knewwhen", ">=", 1000, "naive fold p50 ÷ knewwhen knowledge p50"),
    Target("import_peak_rss_mb", "<=", 300, "import peak RSS (MiB)"),
    Target("serve_peak_rss_mb", "<=", 150, "knewwhen serve peak RSS over GETs and POSTs (MiB)"),
)
UNTARGETED = (
    (
        "knowledge_p50_growth_across_phases",
        "knowledge p50, largest scale ÷ the smallest's own phase (minutes apart; until 2026-12-06"
        " this was knowledge_p50_growth)",
    ),
    ("http_vs_inprocess", "GET knowledge req/s ÷ in-process knowledge answers/s (1 / p50)"),
    ("http_uncached_vs_hello", "GET knowledge req/s, no answer cache ÷ hello-world req/s"),
    (
        "replay_vs_rows_write",
        "replay events/s ÷ the rate its rows are written by the driver alone (bench/measure_rows.py)",
    ),
    (
        "rows_write_vs_raw",
        "replay's rows written by the driver alone, events/s ÷ raw SELECT + decode rows/s: the"
        " most replay_vs_raw could be with these tables",
    ),
)
ABSOLUTES = (
    ("import_events_per_s", "import events/s"),
    ("raw_insert_rows_per_s", "raw insert rows/s"),
    ("peer_save_events_per_s", "peer save events/s"),
    ("replay_events_per_s", "replay events/s"),
    ("rows_write_events_per_s", "replay's rows written by the driver alone, events/s"),
    ("raw_read_rows_per_s", "raw SELECT + decode rows/s"),
    ("peer_read_events_per_s", "peer read events/s"),
    ("knowledge_p50_us", "knowledge p50 µs"),
    ("knowledge_p99_us", "knowledge p99 µs"),
    ("knowledge_p50_us_at_smallest", "knowledge p50 µs of the smallest scale, alternated"),
    ("claim_status_p50_us", "claim status p50 µs"),
    ("claim_status_p99_us", "claim status p99 µs"),
    ("claim_history_p50_us", "claim history p50 µs"),
    ("claim_history_p99_us", "claim history p99 µs"),
    ("naive_p50_us", "naive fold p50 µs"),
    ("http_hello_requests_per_s", "hello req/s"),
    ("http_knowledge_requests_per_s", "GET knowledge req/s"),
    ("http_knowledge_p99_us", "GET knowledge p99 µs"),
    ("http_knowledge_c1_requests_per_s", "GET knowledge req/s, 1 connection"),
    ("http_uncached_requests_per_s", "GET knowledge req/s, no answer cache"),
    ("mean_answer_kib", "mean knowledge answer KiB"),
    ("mean_event_ids_per_answer", "mean event ids in a knowledge answer (its claims' events)"),
    ("http_post_events_per_s", "POST single events/s"),
    ("http_post_p99_us", "POST p99 µs"),
    ("http_post_busy_events_per_s", "POST single events/s, 16 connections"),
    ("http_post_busy_p99_us", "POST p99 µs, 16 connections"),
    ("import_peak_rss_mb", "import peak RSS MiB"),
    ("import_child_peak_rss_mb", "import's checking child peak RSS MiB"),
    ("serve_rss_mb", "serve RSS after GETs MiB"),
    ("serve_peak_rss_mb", "serve peak RSS MiB (after POSTs)"),
    ("replay_peak_rss_mb", "replay peak RSS MiB"),
    ("replay_fold_workers", "replay fold worker processes"),
    ("replay_worker_peak_rss_mb", "replay fold worker peak RSS MiB"),
    ("verify_seconds", "verify s (log, heads and every projection table)"),
    ("verify_events_per_s", "verify events/s"),
    ("verify_peak_rss_mb", "verify peak RSS MiB"),
    ("verify_worker_peak_rss_mb", "verify worker peak RSS MiB (fold or log)"),
    ("database_mb", "database MiB"),
)


def median(figures: dict[str, Any], name: str) -> float:
    """The median of a figure, NaN when it was not measured."""
    found = figures.get(name)
    return float(found["median"]) if found else math.nan


def quotient(a: float, b: float) -> float:
    """a ÷ b, NaN when b is zero or either is missing."""
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def scale_ratios(figures: dict[str, Any], smallest: dict[str, Any]) -> dict[str, float]:
    """The ratio keys of one scale (growth relative to the smallest scale)."""

    def m(name: str) -> float:
        return median(figures, name)

    return {
        "import_vs_raw": quotient(m("import_events_per_s"), m("raw_insert_rows_per_s")),
        "import_vs_peer": quotient(m("import_events_per_s"), m("peer_save_events_per_s")),
        "replay_vs_raw": quotient(m("replay_events_per_s"), m("raw_read_rows_per_s")),
        "knowledge_p50_growth": quotient(m("knowledge_p50_us"), m("knowledge_p50_us_at_smallest"))
        if "knowledge_p50_us_at_smallest" in figures
        else quotient(m("knowledge_p50_us"), median(smallest, "knowledge_p50_us")),
        "knowledge_p50_growth_across_phases": quotient(
            m("knowledge_p50_us"), median(smallest, "knowledge_p50_us")
        ),
        "claim_status_p50_us": m("claim_status_p50_us"),
        "knowledge_p50_ms": m("knowledge_p50_us") / 1000,
        "http_vs_hello": quotient(
            m("http_knowledge_requests_per_s"), m("http_hello_requests_per_s")
        ),
        "naive_vs_knewwhen": quotient(m("naive_p50_us"), m("knowledge_p50_us")),
        "http_vs_inprocess": quotient(
            m("http_knowledge_requests_per_s"), quotient(1e6, m("knowledge_p50_us"))
        ),
        "http_uncached_vs_hello": quotient(
            m("http_uncached_requests_per_s"), m("http_hello_requests_per_s")
        ),
        "replay_vs_rows_write": quotient(m("replay_events_per_s"), m("rows_write_events_per_s")),
        "rows_write_vs_raw": quotient(m("rows_write_events_per_s"), m("raw_read_rows_per_s")),
    }


def passes(target: Target, value: float) -> bool | None:
    """Whether a value meets its target; None when it was not measured."""
    if math.isnan(value):
        return None
    return value >= target.bound if target.op == ">=" else value <= target.bound


def build(
    measured: dict[str, Any], config: dict[str, Any], machine: dict[str, Any], command: str
) -> dict[str, Any]:
    """The results document: ratios at the largest scale, per scale, figures, targets, machine."""
    scales = measured["scales"]
    keys = sorted(scales, key=int)
    smallest = scales[keys[0]]["figures"]
    by_scale = {k: scale_ratios(scales[k]["figures"], smallest) for k in keys}
    for key in ("knowledge_p50_growth", "knowledge_p50_growth_across_phases"):
        by_scale[keys[0]][key] = math.nan  # the smallest scale against itself
    largest = keys[-1]
    ratios = dict(by_scale[largest])
    if len(keys) < 2:
        ratios["knowledge_p50_growth"] = math.nan
    judged = {}
    for target in TARGETS:
        value = ratios.get(target.key, median(scales[largest]["figures"], target.key))
        judged[target.key] = {
            "target": f"{target.op} {target.bound:g}",
            "value": value,
            "pass": passes(target, value),
            "at_events": int(largest),
        }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "database": measured["database"],
        "ratios": ratios,
        "ratios_by_scale": by_scale,
        "targets": judged,
        "figures": {k: scales[k]["figures"] for k in keys},
        "generated": {k: scales[k].get("generated") for k in keys},
        "load_generator": next(
            (scales[k].get("load_generator") for k in keys if "load_generator" in scales[k]), None
        ),
        "config": config,
        "machine": machine,
    }


def fmt(value: float) -> str:
    """A number for the table, with sensible precision."""
    if math.isnan(value):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def label(events: str) -> str:
    """10000 → 10k, 1000000 → 1M."""
    n = int(events)
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def markdown(results: dict[str, Any]) -> str:
    """The ratio table (with targets and pass/fail at the largest scale) and the absolute figures."""
    keys = list(results["figures"])
    largest = label(keys[-1])
    head = ["figure", *(label(k) for k in keys), "target", f"pass at {largest}"]
    lines = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}"]
    for target in TARGETS:
        values = []
        for k in keys:
            if target.key in results["ratios_by_scale"][k]:
                value = results["ratios_by_scale"][k][target.key]
            else:
                value = median(results["figures"][k], target.key)
            values.append(fmt(value))
        verdict = results["targets"][target.key]["pass"]
        mark = "n/a" if verdict is None else ("pass" if verdict else "**FAIL**")
        lines.append(
            f"| `{target.key}` | {' | '.join(values)} | {target.op} {target.bound:g} | {mark} |"
        )
    for key, _ in UNTARGETED:
        row = [fmt(results["ratios_by_scale"][k].get(key, math.nan)) for k in keys]
        lines.append(f"| `{key}` | {' | '.join(row)} | — | — |")
    lines += ["", f"| absolute (median of repeats) | {' | '.join(label(k) for k in keys)} |"]
    lines.append(f"|{'---|' * (len(keys) + 1)}")
    for name, text in ABSOLUTES:
        row = [fmt(median(results["figures"][k], name)) for k in keys]
        lines.append(f"| {text} | {' | '.join(row)} |")
    return "\n".join(lines)


def write(results: dict[str, Any], folder: Path) -> Path:
    """Write bench/results/<date>-<events>[-postgres].json; the path written. A run of the
    same day and scales does not overwrite it: its name ends with the commit measured (and a
    count, if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    events = "-".join(results["figures"])
    suffix = "-postgres" if results["database"] == "postgres" else ""
    stem = f"{results['date'][:10]}-{events}{suffix}"
    path = folder / f"{stem}.json"
    commit = str(results["machine"].get("commit") or "")[:7]
    taken = 1
    while path.exists():
        taken += 1
        path = folder / f"{stem}-{commit or 'run'}{'' if taken == 2 else f'-{taken}'}.json"
    path.write_text(json.dumps(without_nan(results), indent=1, ensure_ascii=False) + "\n")
    return path


def without_nan(value: Any) -> Any:
    """The same structure with NaN (not measured) as null, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(v) for v in value]
    return value
