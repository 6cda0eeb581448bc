"""Write bench/REPORT.md and the per-query chart from a run's JSON files."""

import argparse
import json
import statistics
import math
import platform
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def machine():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory}"


def rustc():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def check(ok, target):
    return f"{'met' if ok else 'missed'} (target {target})"


def median_loads(results):
    """Each engine's median load of the interleaved runs (`load-N.json`,
    `load_peers-N.json`), or the single `load.json` of an older run."""
    floe = [json.loads(p.read_text()) for p in sorted(results.glob("load-*.json"))]
    peers = [json.loads(p.read_text()) for p in sorted(results.glob("load_peers-*.json"))]
    if not floe:
        return (json.loads((results / "load.json").read_text()),
                json.loads((results / "load_peers.json").read_text()), 1)

    def median(runs):
        return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]

    load = median(floe)
    load["runs_seconds"] = [run["seconds"] for run in floe]
    merged = {"rows": peers[0]["rows"]}
    for key in ["pyiceberg", "duckdb_copy", "duckdb_copy_zstd"]:
        merged[key] = median([p[key] for p in peers])
        merged[key]["runs_seconds"] = [p[key]["seconds"] for p in peers]
    return load, merged, len(floe)


SESSIONS_BEGIN = "<!-- sessions: written by bench/run.sh (--only sessions rewrites just this part) -->"
SESSIONS_END = "<!-- /sessions -->"


def sessions_section(results, profile, sf, spliced=False):
    """The "Sessions" section, from `sessions.json` (one line per bench)."""
    rows = [json.loads(line) for line in (results / "sessions.json").read_text().splitlines() if line.strip()]
    session = next(r for r in rows if r["bench"] == "session")
    throughput = [r for r in rows if r["bench"] == "throughput"]
    memory = [r for r in rows if r["bench"] == "memory"]
    lines = [SESSIONS_BEGIN, "## Sessions of one engine", ""]
    add = lines.append
    run = (f" These figures come from a later run than the sections above: `bench/run.sh --sf {sf}{' --release' if profile == 'release' else ''} --only sessions`, which rewrites only this section."
           if spliced else "")
    add(f"`floe-bench sessions` ({profile} build), in one process on one engine. Making a session copies the engine's DataFusion state and gives it a catalog of its own: no I/O, no lock.{run}")
    add("")
    add("| measurement | p50 | p99 | mean | |")
    add("|---|---:|---:|---:|---|")
    add(f"| `engine.session()`, {session['n']} times | {session['p50_us']:.1f} µs | {session['p99_us']:.1f} µs | {session['mean_us']:.1f} µs | {check(session['p50_us'] <= 100, '≤ 100 µs')} |")
    add(f"| dropping a session | {session['drop_p50_us']:.1f} µs | | | |")
    add("")
    add(f"Single-row `INSERT … VALUES` commits, {throughput[0]['commits']} in all, shared out between the sessions, which all run at once; every run checks that each commit landed exactly once (rows, distinct rows, snapshots).")
    add("")
    add("| sessions | tables | seconds | commits/s | × one session | lost or duplicated |")
    add("|---:|---|---:|---:|---:|---:|")
    base = {t["tables"]: t for t in throughput if t["sessions"] == 1}
    for t in throughput:
        ratio = t["commits_per_second"] / base[t["tables"]]["commits_per_second"]
        add(f"| {t['sessions']} | {t['tables']} | {t['seconds']:.2f} | {t['commits_per_second']:.0f} | {ratio:.2f} | {t['lost_or_duplicated']} |")
    sixteen = next(t for t in throughput if t["sessions"] == 16 and t["tables"] == "separate")
    ratio = sixteen["commits_per_second"] / base["separate"]["commits_per_second"]
    add("")
    add(f"16 sessions on separate tables: {ratio:.2f}× one session's commits/s: {check(ratio >= 1.8, '≥ 1.8×')}. Sessions of one engine commit to one table in turn (its commit lock), so they never lose a race to each other and never retry; on separate tables they commit in parallel.")
    add("")
    if memory:
        add(f"Eight sessions running a query at once on an engine limited to {memory[0]['memory_limit_bytes'] / 2**30:.0f} GiB (`--memory-limit`), over TPC-H SF{sf}'s lineitem registered in place. Peak RSS is the whole process's; spilled is the most the spill directory held at once.")
        add("")
        add("| query | sessions | seconds | failures | rows each | peak RSS | spilled |")
        add("|---|---:|---:|---:|---|---:|---:|")
        for m in memory:
            rss = f"{m['peak_rss_bytes'] / 2**20:,.0f} MiB" if m["peak_rss_bytes"] else "?"
            add(f"| {m['query']} | {m['sessions']} | {m['seconds']:.2f} | {len(m['failures'])} | {', '.join(str(n) for n in sorted(set(m['rows'])))} | {rss} | {m['spilled_bytes_max'] / 2**20:,.0f} MiB |")
        for m in memory:
            for failure in m["failures"]:
                add(f"- {m['query']} failed: {failure}")
        add("")
    lines.append(SESSIONS_END)
    return lines


FLIGHT_BEGIN = "<!-- flight: written by bench/run.sh (--only flight rewrites just this part) -->"
FLIGHT_END = "<!-- /flight -->"


def flight_section(results, profile, sf, spliced=False):
    """The "Flight SQL" section, from `flight.json` and `fetch.json`."""
    f = json.loads((results / "flight.json").read_text())
    base = json.loads((results / "fetch.json").read_text())
    t, ing, ld = f["transfer"], f["ingest"], f["load"]
    median = statistics.median
    lines = [FLIGHT_BEGIN, "## Flight SQL", ""]
    add = lines.append
    run = (f" These figures come from a later run than the sections above: `bench/run.sh --sf {sf}{' --release' if profile == 'release' else ''} --only flight`, which rewrites only this section."
           if spliced else "")
    add(f"`floe serve --flight` ({profile} build) on one machine with its clients (`bench/flight.py`, ADBC {f.get('adbc_version', '')}), median of {len(t['flight_seconds'])} runs each.{run}")
    add("")
    in_process = median(base["query_seconds"])
    flight = median(t["flight_seconds"])
    add(f"**Result transfer**: TPC-H SF{sf} `lineitem` ({t['rows']:,} rows, {t['flight_bytes'] / 2**20:,.0f} MiB in Arrow), `SELECT * FROM lineitem` over the files registered in place.")
    add("")
    add("| how | seconds | × in-process | |")
    add("|---|---:|---:|---|")
    add(f"| Floe in-process (the library, `collect()`) | {in_process:.2f} | 1.00 | |")
    add(f"| Floe over Flight SQL, ADBC into a pyarrow Table | {flight:.2f} | {flight / in_process:.2f} | {check(flight / in_process <= 1.3, '≤ 1.3×')} |")
    if "pyarrow_flight_seconds" in t:
        raw = median(t["pyarrow_flight_seconds"])
        add(f"| Floe over Flight SQL, pyarrow.flight (C++ client) into a Table | {raw:.2f} | {raw / in_process:.2f} | |")
    floor_file = results / "flight_floor.json"
    floor = json.loads(floor_file.read_text()) if floor_file.exists() else None
    if floor:
        for spec, label in [("8MiB", "messages of 8 MiB, as Floe sends"), ("8192", "messages of 8,192 rows")]:
            if spec in floor["do_get"]:
                s = floor["do_get"][spec]["median_s"]
                add(f"| the floor: a bare pyarrow Flight server (no query, lineitem in memory) to pyarrow.flight, {label} | {s:.2f} | {s / in_process:.2f} | |")
    add(f"| pyarrow reading the Parquet files | {median(t['pyarrow_parquet_seconds']):.2f} | {median(t['pyarrow_parquet_seconds']) / in_process:.2f} | |")
    add(f"| DuckDB's Python client, `read_parquet(...).arrow()` | {median(t['duckdb_seconds']):.2f} | {median(t['duckdb_seconds']) / in_process:.2f} | |")
    add("")
    ingest_rate = ing["rows"] / median(ing["seconds"])
    insert_rate = base["rows"] / median(base["insert_seconds"])
    add(f"**Ingest**: `adbc_ingest` of `lineitem` from a pyarrow Table (one snapshot), against Floe's own `INSERT INTO … SELECT` from the Parquet files, in-process.")
    add("")
    add("| how | seconds | rows/s | × INSERT | |")
    add("|---|---:|---:|---:|---|")
    add(f"| `INSERT … SELECT` in-process | {median(base['insert_seconds']):.2f} | {insert_rate:,.0f} | 1.00 | |")
    add(f"| `adbc_ingest` over Flight SQL | {median(ing['seconds']):.2f} | {ingest_rate:,.0f} | {ingest_rate / insert_rate:.2f} | {check(ingest_rate / insert_rate >= 0.8, '≥ 0.8×')} |")
    if "pyarrow_flight_seconds" in ing:
        raw_rate = ing["rows"] / median(ing["pyarrow_flight_seconds"])
        add(f"| the same ingest from pyarrow.flight (C++ client) | {median(ing['pyarrow_flight_seconds']):.2f} | {raw_rate:,.0f} | {raw_rate / insert_rate:.2f} | |")
    if floor:
        s = floor["do_put"]["median_s"]
        add(f"| the floor: pyarrow.flight `do_put` of lineitem to a bare pyarrow Flight server that drops the batches | {s:.2f} | {floor['rows'] / s:,.0f} | {floor['rows'] / s / insert_rate:.2f} | |")
    add("")
    ops = ld["operations"]
    add(f"**Load**: {ld['clients']} clients at once for {ld['seconds']} s, each on its own warehouse branch with its own table, each picking at random a query (`count`, `sum`), a prepared statement with a parameter, or an ingest of 100 rows. At the end every client checks its table holds exactly the rows it ingested, once each.")
    add("")
    add("| operation | count | p50 ms | p99 ms |")
    add("|---|---:|---:|---:|")
    for op in ["query", "prepared", "ingest"]:
        add(f"| {op} | {ops[op]:,} | {ld['p50_ms'][op]:.1f} | {ld['p99_ms'][op]:.1f} |")
    add("")
    ok = not ld["errors"] and ld["lost_or_duplicated"] == 0
    add(f"Errors: {len(ld['errors'])}; ingested rows {ld['ingested_rows']:,}, lost or duplicated {ld['lost_or_duplicated']}: {check(ok, 'none')}. Server peak RSS during the load: {ld['peak_rss_bytes'] / 2**20:,.0f} MiB (during the whole run, lineitem fetches and ingests included: {f['server_peak_rss_bytes'] / 2**20:,.0f} MiB).")
    for e in ld["errors"][:10]:
        add(f"- {e}")
    add("")
    lines.append(FLIGHT_END)
    return lines


PIPELINE_BEGIN = "<!-- pipeline: written by bench/run.sh (--only pipeline rewrites just this part) -->"
PIPELINE_END = "<!-- /pipeline -->"


def section_head(begin, title, only, profile, spliced):
    """The first lines of a section: its begin marker and title, and, when
    `bench/run.sh --only` rewrote it alone, which run that was."""
    lines = [begin, title, ""]
    if spliced:
        lines += [f"Rewritten alone by `bench/run.sh --only {only}` ({profile} build), {machine()}.", ""]
    return lines


def pipeline_section(results, profile, spliced=False):
    """The "Pipelines" section, from `pipeline.json`."""
    p = json.loads((results / "pipeline.json").read_text())
    floe, dbt = p["floe"], p["dbt"]
    lines = section_head(PIPELINE_BEGIN, "## Pipelines", "pipeline", profile, spliced)
    add = lines.append
    add(f"The orders pipeline of `fixtures/pipelines/orders` over a generated feed: "
        f"{p['files']} files (half shop CSV, half app JSON lines) of {p['events_per_file']:,} "
        f"events each, then {p['rounds']} rounds of 2 new files (1 %), each followed by a run "
        f"with nothing new. Floe runs `floe pipeline run` (its checks included); dbt-duckdb "
        f"runs `dbt build` on `bench/dbt_orders`, the same models with dbt's incremental "
        f"materializations and the same checks as dbt tests. Wall time of each process; "
        f"the incremental and no-op figures are medians of {p['rounds']}.")
    add("")
    full, inc, noop = floe["full"], floe["incremental_median"], floe["noop_median"]
    add("| run | Floe (s) | dbt-duckdb (s) | Floe / dbt-duckdb | target |")
    add("|---|---:|---:|---:|---|")
    add(f"| full, {p['files']} files | {full:.2f} | {dbt['full']:.2f} | {full / dbt['full']:.2f} | |")
    rounds = lambda runs: ", ".join(f"{x:.2f}" for x in runs)
    add(f"| incremental, 2 new files (rounds: Floe {rounds(floe['incremental'])}; dbt-duckdb {rounds(dbt['incremental'])}) | {inc:.2f} | {dbt['incremental_median']:.2f} | "
        f"{inc / dbt['incremental_median']:.2f} | {check(inc / full <= 0.05, '≤ 5 % of the full run')}: "
        f"{100 * inc / full:.1f} %. Goal, ahead of dbt-duckdb: {'yes' if inc < dbt['incremental_median'] else 'not yet'} |")
    add(f"| nothing new | {noop:.2f} | {dbt['noop_median']:.2f} | {noop / dbt['noop_median']:.2f} | "
        f"{check(noop <= 0.5, '≤ 0.5 s')} |")
    add("")
    agree = p["answers_agree"]
    add(f"Answers: Floe's and dbt-duckdb's gold tables agree: daily revenue "
        f"({p['daily_revenue_rows']} rows) {'yes' if agree['daily_revenue'] else 'NO'}, "
        f"customer lifetime value totals {'yes' if agree['customer_ltv'] else 'NO'}.")
    add("")
    add("Floe's steps (seconds), full run and last incremental run:")
    add("")
    add("| step | full: action | rows read | s | incremental: action | rows read | s |")
    add("|---|---|---:|---:|---|---:|---:|")
    for a, b in zip(floe["full_steps"], floe["incremental_steps"]):
        add(f"| {a['step']} | {a['action']} | {a['rows_read']:,} | {a.get('elapsed_ms', 0) / 1000:.2f} "
            f"| {b['action']} | {b['rows_read']:,} | {b.get('elapsed_ms', 0) / 1000:.2f} |")
    lines.append(PIPELINE_END)
    return lines


REST_BEGIN = "<!-- rest:begin -->"
REST_END = "<!-- rest:end -->"


def rest_section(results, profile, spliced=False):
    """The "REST catalog" section, from `rest.json`."""
    r = json.loads((results / "rest.json").read_text())
    lines = section_head(REST_BEGIN, "## Iceberg REST catalog", "rest", profile, spliced)
    add = lines.append
    add(f"PyIceberg 0.12 appending one row {r['n']} times through `floe serve --rest`, against "
        f"PyIceberg on a SqlCatalog over the same catalog.db and disk (wall time of `append`, "
        f"which writes the data file, manifest and manifest list client side and then commits). "
        f"The commit request is the POST of each append alone, timed in PyIceberg's HTTP session; "
        f"the round trip is `GET /v1/config`.")
    add("")
    add("| | p50 ms | p99 ms |")
    add("|---|---:|---:|")
    for key, label in [("rest_append", "PyIceberg append, REST catalog (Floe)"),
                       ("sqlcatalog_append", "PyIceberg append, SqlCatalog"),
                       ("rest_commit_request", "commit request (REST)"),
                       ("http_round_trip", "HTTP round trip")]:
        add(f"| {label} | {r[key]['p50_ms']:.2f} | {r[key]['p99_ms']:.2f} |")
    add(f"| Floe's own single-row INSERT, in process (mean) | {r['floe_local_insert_mean_ms']:.2f} | |")
    add("")
    local = r["floe_local_insert_mean_ms"] + r["http_round_trip"]["p50_ms"]
    commit = r["rest_commit_request"]["p50_ms"]
    add(f"Target, REST commit p50 ≤ 1.2× Floe's local commit plus the round trip: "
        f"{check(commit <= 1.2 * local, '≤ 1.2×')} ({commit:.2f} ms against {local:.2f} ms; "
        f"Floe's figure is a whole INSERT, planning and data file included, so the commit alone is smaller: "
        f"the comparison flatters the REST side).")
    add("")
    h = r["load_history"]
    add(f"Load-table latency of a table with {h['snapshots']:,} snapshots "
        f"({h['metadata_bytes'] / 1024:.0f} KiB response): p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms "
        f"({h['n']} warm loads). Target ≤ 20 ms: {check(h['p50_ms'] <= 20, '≤ 20 ms')}.")
    add("")
    add("| concurrent clients | commits | s | commits/s | retries (409s) | rows | lost |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in [("concurrent_separate", "to a table each"), ("concurrent_shared", "all to one table")]:
        c = r[key]
        add(f"| {c['clients']} {label} | {c['commits']} | {c['seconds']:.2f} | {c['commits_per_s']:.1f} | "
            f"{c['retries']} | {c['rows']} | {c['lost']} |")
    lines.append(REST_END)
    return lines


RCK_BEGIN = "<!-- rck:begin -->"
RCK_END = "<!-- rck:end -->"


def rck_section(results, profile, spliced=False):
    """The "REST Compatibility Kit" section, from the kit's JUnit report."""
    import xml.etree.ElementTree as ET

    def outcomes(name):
        passed, failed, skipped = [], [], []
        report = results / name / "TEST-junit-jupiter.xml"
        if not report.exists():
            return None
        for case in ET.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(case.get("name"))
            elif case.find("skipped") is not None:
                skipped.append(case.get("name"))
            else:
                passed.append(case.get("name"))
        return passed, failed, skipped

    lines = section_head(RCK_BEGIN, "## Iceberg REST Compatibility Kit", "rck", profile, spliced)
    add = lines.append
    add("Java Iceberg's own suite for REST catalogs (`org.apache.iceberg:iceberg-open-api` "
        "1.10.0) run by `scripts/rck.sh` against `floe serve --rest` on a fresh warehouse, "
        "its table and view classes; `interop/test_rck.py` runs both in CI and fails on any "
        "failure.")
    add("")
    add("| class | passed | failed | skipped |")
    add("|---|---:|---:|---:|")
    notes = []
    for name, test_class in [("rck", "RESTCompatibilityKitCatalogTests"),
                             ("rck-views", "RESTCompatibilityKitViewCatalogTests")]:
        found = outcomes(name)
        if found is None:
            continue
        passed, failed, skipped = found
        add(f"| `{test_class}` | {len(passed)} | {len(failed)} | {len(skipped)} |")
        if failed:
            notes.append(f"Failed in `{test_class}`: " + ", ".join(f"`{n}`" for n in sorted(failed)) + ".")
        if skipped:
            notes.append(f"Skipped by `{test_class}`'s own assumptions, which claim these "
                         "capabilities for no server (empty and nested namespaces, names with "
                         "dots): " + ", ".join(f"`{n}`" for n in sorted(skipped)) + ".")
    add("")
    for note in notes:
        add(note)
        add("")
    lines.append(RCK_END)
    return lines


HISTORY_BEGIN = "<!-- history:begin -->"
HISTORY_END = "<!-- history:end -->"


def history_section(results, profile, spliced=False):
    """The "Commit latency against history" section (issue 17)."""
    lines_read = [json.loads(l) for l in (results / "history.jsonl").read_text().splitlines() if l.strip()]
    rows = [r for r in lines_read if "recovery" not in r]
    recovery = next((r["recovery"] for r in lines_read if "recovery" in r), None)
    lines = section_head(HISTORY_BEGIN, "## Commit latency against history", "history", profile, spliced)
    add = lines.append
    add("Single-row `INSERT … VALUES` commits to one table, one after another in one warm "
        "session, with the default policies: the table keeps `floe.history.max-snapshots` "
        "(100) snapshots, its oldest expiring in the commit that passes the bound, and the "
        "metadata log keeps `write.metadata.previous-versions-max` (100) entries. At each "
        "checkpoint: the p50 of the 10 commits ending there, the snapshots the table keeps, "
        "and the size of the metadata file every commit rewrites.")
    add("")
    add("| commits | snapshots kept | p50 ms | metadata file KB | p50 × at 10 |")
    add("|---:|---:|---:|---:|---:|")
    base = rows[0]["p50_ms"] if rows else float("nan")
    for r in rows:
        commits = r.get("commits", r.get("snapshots"))
        kept = r.get("snapshots_kept", commits)
        add(f"| {commits:,} | {kept:,} | {r['p50_ms']:.1f} | {r['metadata_bytes'] / 1024:.0f} | "
            f"{r['p50_ms'] / base:.1f} |")
    add("")
    last = rows[-1] if rows else None
    last_commits = last.get("commits", last.get("snapshots")) if last else 0
    if last and last_commits >= 10_000:
        add(f"At 10,000 commits: {check(last['p50_ms'] / base <= 2, '≤ 2× at 10')}.")
    elif last:
        add(f"The run stopped at {last_commits:,} commits; the 10,000 target "
            "(≤ 2× at 10) is not measured here.")
    add("")
    add("What a commit still does in proportion to the history it keeps: it serializes and "
        "writes the whole metadata JSON (every snapshot kept, the snapshot log, the metadata "
        "log) and a manifest list of up to `commit.manifest.min-count-to-merge` (100) "
        "manifests, so the two bounds set the ceiling (the step from 10 to 100 commits). "
        "Every 100th commit also merges the small manifests into one, rewriting the entries "
        "of the live files: that cost follows the table's files, not its history, and stays "
        "out of the p50. The files only expired snapshots reached stay until "
        "`remove_orphan_files` (`floe maintain`) deletes them.")
    if recovery:
        add("")
        add("### Small-file recovery")
        add("")
        add(f"The same table after its {recovery['rows']:,} single-row appends "
            f"({recovery['files_before']:,} data files), before and after "
            "`CALL system.rewrite_data_files(table => 'history')` with its defaults "
            f"({recovery['files_after']:,} file(s) after). Planning is `SELECT sum(id)` up to its "
            "physical plan; the scan runs it. Medians of 3.")
        add("")
        add("| | planning ms | scan ms |")
        add("|---|---:|---:|")
        add(f"| before | {recovery['plan_before_ms']:.1f} | {recovery['scan_before_ms']:.1f} |")
        add(f"| after | {recovery['plan_after_ms']:.1f} | {recovery['scan_after_ms']:.1f} |")
        add("")
        add(f"The compaction took {recovery['compaction_ms'] / 1000:.2f} s: "
            f"{recovery['compaction_rows_per_s']:,.0f} rows/s, "
            f"{recovery['files_before'] / (recovery['compaction_ms'] / 1000):,.0f} files/s.")
        spark_path = results / "spark_rewrite.json"
        if spark_path.exists():
            spark = json.loads(spark_path.read_text())
            floe_s = spark["floe_compaction_ms"] / 1000
            spark_s = spark["spark_compaction_ms"] / 1000
            add("")
            add("### Side by side with Spark's `rewrite_data_files`")
            add("")
            add(f"The same snapshot of the same {spark['files_before']:,} files, registered as a "
                "second table (`CALL system.register_table`, `bench/spark_rewrite.py`), compacted "
                f"by Spark 4.0 with Iceberg's runtime in `local[{spark['cores']}]` through Iceberg's "
                "JDBC catalog on the warehouse's catalog.db, with the procedure's defaults. Both "
                "had scanned the table once before (Spark in a warm-up `SELECT count(*)`, which "
                f"took {spark['spark_warmup_scan_s']:.1f} s; its session started in "
                f"{spark['spark_session_s']:.1f} s, not counted). Floe's process keeps the "
                "manifests it has parsed; Spark's does not, by Iceberg's defaults.")
            add("")
            add("| engine | compaction s | rows/s | files after |")
            add("|---|---:|---:|---:|")
            add(f"| Floe | {floe_s:.2f} | {spark['rows'] / floe_s:,.0f} | {recovery['files_after']:,} |")
            add(f"| Spark | {spark_s:.2f} | {spark['rows'] / spark_s:,.0f} | {spark['files_after']:,} |")
            add("")
            add(f"Floe / Spark: {floe_s / spark_s:.2f}, "
                f"{check(floe_s < spark_s, 'faster than Spark local on the same cores')}.")
    lines.append(HISTORY_END)
    return lines


def splice(report, section, begin, end):
    """`report` with its section between `begin` and `end` replaced (or
    added before the notes)."""
    text = report.read_text() if report.exists() else ""
    block = "\n".join(section)
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        # Before the notes (NOTES.md, which the report ends with).
        notes = Path(__file__).parent / "NOTES.md"
        first = notes.read_text().strip().splitlines()[0] if notes.exists() else None
        if first and first in text:
            text = text.replace(first, block + "\n\n" + first, 1)
        else:
            text = text + "\n" + block + "\n"
    report.write_text(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--sf", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--only-sessions", action="store_true")
    parser.add_argument("--only-flight", action="store_true")
    parser.add_argument("--only-pipeline", action="store_true")
    parser.add_argument("--only-rest", action="store_true")
    parser.add_argument("--only-rck", action="store_true")
    parser.add_argument("--only-history", action="store_true")
    args = parser.parse_args()
    if args.only_history:
        splice(args.out, history_section(args.results, args.profile, spliced=True),
               HISTORY_BEGIN, HISTORY_END)
        return
    if args.only_rck:
        splice(args.out, rck_section(args.results, args.profile, spliced=True), RCK_BEGIN, RCK_END)
        return
    if args.only_sessions:
        splice(args.out, sessions_section(args.results, args.profile, args.sf, spliced=True),
               SESSIONS_BEGIN, SESSIONS_END)
        return
    if args.only_pipeline:
        splice(args.out, pipeline_section(args.results, args.profile, spliced=True),
               PIPELINE_BEGIN, PIPELINE_END)
        return
    if args.only_rest:
        splice(args.out, rest_section(args.results, args.profile, spliced=True), REST_BEGIN, REST_END)
        return
    if args.only_flight:
        splice(args.out, flight_section(args.results, args.profile, args.sf, spliced=True),
               FLIGHT_BEGIN, FLIGHT_END)
        return
    r = {name: json.loads((args.results / f"{name}.json").read_text())
         for name in ["tpch", "commits", "commits_pyiceberg", "branches"]}
    r["load"], r["load_peers"], load_runs = median_loads(args.results)
    plans_file = args.results / "plans.json"
    plans = [json.loads(line) for line in plans_file.read_text().splitlines() if line.strip()] if plans_file.exists() else []

    tpch = r["tpch"]["queries"]
    names = list(tpch)
    floe = [tpch[q]["median_s"]["floe"] for q in names]
    loaded = [tpch[q]["median_s"]["floe-loaded"] for q in names]
    datafusion = [tpch[q]["median_s"]["datafusion"] for q in names]
    duck = [tpch[q]["median_s"]["duckdb"] for q in names]
    g_floe, g_df, g_duck = geomean(floe), geomean(datafusion), geomean(duck)
    g_loaded = geomean(loaded)
    disagree = [q for q in names if not all(tpch[q]["answers_agree"].values())]

    chart_name = "tpch.png" if args.out.stem == "REPORT" else f"tpch-{args.out.stem.split('-', 1)[-1].lower()}.png"
    chart = args.out.parent / chart_name
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.2
    xs = range(len(names))
    ax.bar([x - 1.5 * width for x in xs], floe, width, label="Floe (Iceberg, add_files)")
    ax.bar([x - 0.5 * width for x in xs], datafusion, width, label="DataFusion (Parquet)")
    ax.bar([x + 0.5 * width for x in xs], duck, width, label="DuckDB (Parquet)")
    ax.bar([x + 1.5 * width for x in xs], loaded, width, label="Floe (Iceberg, loaded: zstd)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names)
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"TPC-H SF{args.sf}, median of {r['tpch']['runs']} runs, warm sessions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(chart, dpi=110)

    load, peers = r["load"], r["load_peers"]
    commits, commits_py = r["commits"], r["commits_pyiceberg"]
    br = r["branches"]
    lines = []
    add = lines.append
    add("# Floe benchmarks")
    add("")
    flag = " --release" if args.profile == "release" else ""
    if load_runs != 5:
        flag += f" --load-runs {load_runs}"
    if commits["n"] != 1000:
        flag += f" --commits {commits['n']}"
    add(f"Written by `bench/run.sh --sf {args.sf}{flag}`; every figure below comes from that one run.")
    add("")
    add(f"- Machine: {machine()}")
    add(f"- Build: `{args.profile}` profile, {rustc()}; DataFusion 53.1 (Floe's and the plain one are the same build)")
    add(f"- DuckDB {r['tpch']['duckdb_version']} (PyPI), PyIceberg 0.12.0 with a SqlCatalog on the same disk")
    add(f"- TPC-H data: `tpchgen-cli` scale factor {args.sf}, Parquet")
    add("")
    add("## TPC-H")
    add("")
    add(f"Median of {r['tpch']['runs']} runs per query, engines interleaved (each query runs on each engine in turn, the order rotating), warm sessions. DataFusion and DuckDB read the Parquet files `tpchgen-cli` wrote; **Floe** reads the very same files, registered in place as Iceberg tables with `CALL system.add_files` (so the comparison measures what Iceberg's metadata costs or buys at query time). **Floe, loaded** reads the tables Floe's load wrote (its own files: zstd, 256k-row groups, several files per table). The first run's answers of all four are compared (numbers to 0.01).")
    add("")
    add("| query | Floe s | DataFusion s | DuckDB s | Floe / DataFusion | Floe / DuckDB | Floe, loaded s | loaded / DataFusion | answers |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for q, f, d, k, l in zip(names, floe, datafusion, duck, loaded):
        ok = "agree" if all(tpch[q]["answers_agree"].values()) else f"differ {tpch[q]['answers_agree']}"
        add(f"| {q} | {f:.3f} | {d:.3f} | {k:.3f} | {f / d:.2f} | {f / k:.2f} | {l:.3f} | {l / d:.2f} | {ok} |")
    add(f"| **geometric mean** | {g_floe:.3f} | {g_df:.3f} | {g_duck:.3f} | **{g_floe / g_df:.3f}** | **{g_floe / g_duck:.3f}** | {g_loaded:.3f} | {g_loaded / g_df:.3f} | {'all agree' if not disagree else 'differ: ' + ', '.join(disagree)} |")
    add("")
    add(f"On the same files: Floe / DataFusion {g_floe / g_df:.3f}: {check(g_floe / g_df <= 1.05, '≤ 1.05')}. Floe / DuckDB {g_floe / g_duck:.3f}: {check(g_floe / g_duck <= 1.5, '≤ 1.5')}.")
    add(f"On the tables Floe loaded: Floe / DataFusion {g_loaded / g_df:.2f}, Floe / DuckDB {g_loaded / g_duck:.2f}; the difference from the same-files run is the files themselves (see the notes below on compression).")
    add("")
    add(f"![TPC-H per query]({chart_name})")
    add("")
    if plans:
        add("### Planning")
        add("")
        add("Time from SQL text to physical plan (parse, resolve, plan the scan from the Iceberg metadata, optimize), median of 20 per query, Floe on the `add_files` tables against DataFusion on the same files; part of every query time above.")
        add("")
        add("| query | Floe ms | DataFusion ms | Floe − DataFusion ms |")
        add("|---|---:|---:|---:|")
        for p in plans:
            add(f"| {p['query']} | {p['floe_ms']:.2f} | {p['datafusion_ms']:.2f} | {p['floe_ms'] - p['datafusion_ms']:+.2f} |")
        f_sum = sum(p["floe_ms"] for p in plans)
        d_sum = sum(p["datafusion_ms"] for p in plans)
        add(f"| **mean** | {f_sum / len(plans):.2f} | {d_sum / len(plans):.2f} | {(f_sum - d_sum) / len(plans):+.2f} |")
        add("")
    add("## Load")
    add("")
    add(f"Median of {load_runs} loads per engine, the engines interleaved (Floe, then PyIceberg and DuckDB, {load_runs} times); every run's seconds are listed.")
    add("")
    add("| engine | rows | seconds | rows/s | Floe / engine | runs, s |")
    add("|---|---:|---:|---:|---:|---|")
    runs = lambda entry: ", ".join(f"{s:.2f}" for s in entry.get("runs_seconds", [entry["seconds"]]))
    add(f"| Floe: `INSERT INTO … SELECT` from the Parquet files into the TPC-H tables (columns NOT NULL) | {load['rows']} | {load['seconds']:.2f} | {load['rows_per_second']:,.0f} | 1.00 | {runs(load)} |")
    for key, label in [("pyiceberg", "PyIceberg: read Parquet, `append`"), ("duckdb_copy", "DuckDB: Parquet to Parquet `COPY` (its default codec, snappy)"), ("duckdb_copy_zstd", "DuckDB: Parquet to Parquet `COPY … (COMPRESSION zstd)`")]:
        p = peers[key]
        add(f"| {label} | {peers['rows']} | {p['seconds']:.2f} | {p['rows_per_second']:,.0f} | {load['rows_per_second'] / p['rows_per_second']:.2f} | {runs(p)} |")
    add(f"| Floe: `CALL system.add_files` of the same files (no copy; footers read for the manifests) | {load['rows']} | {load['add_files_seconds']:.2f} | {load['rows'] / load['add_files_seconds']:,.0f} | | |")
    add("")
    add("Codecs as each engine writes by default: Floe and PyIceberg zstd (Iceberg's default since 1.4), DuckDB snappy; DuckDB's copy is also timed with zstd, like for like. PyIceberg appends a table of more than 10 M rows in 10 M-row chunks (SF10's lineitem), to bound its memory.")
    add("")
    add(f"Floe ≥ PyIceberg: {check(load['rows_per_second'] >= peers['pyiceberg']['rows_per_second'], 'at least PyIceberg')}. Floe ≥ DuckDB COPY: {check(load['rows_per_second'] >= peers['duckdb_copy']['rows_per_second'], 'at least DuckDB')}; with the same codec (zstd), Floe / DuckDB {load['rows_per_second'] / peers['duckdb_copy_zstd']['rows_per_second']:.2f}.")
    add("")
    add("## Commit latency")
    add("")
    add("| engine | single-row commits | p50 ms | p99 ms | mean ms |")
    add("|---|---:|---:|---:|---:|")
    add(f"| Floe `INSERT … VALUES` (one warm session) | {commits['n']} | {commits['p50_ms']:.1f} | {commits['p99_ms']:.1f} | {commits['mean_ms']:.1f} |")
    add(f"| PyIceberg `append` (SqlCatalog) | {commits_py['n']} | {commits_py['p50_ms']:.1f} | {commits_py['p99_ms']:.1f} | {commits_py['mean_ms']:.1f} |")
    add("")
    add(f"Floe p50 / PyIceberg p50: {commits['p50_ms'] / commits_py['p50_ms']:.2f}. Floe p50: {check(commits['p50_ms'] <= 10, '≤ 10 ms')}.")
    add("")
    add("## Branching and planning")
    add("")
    add(f"Median of {br['repeat']} repetitions.")
    add("")
    add("| measurement | table's data files | ms | |")
    add("|---|---:|---:|---|")
    add(f"| `ALTER TABLE … CREATE BRANCH` | {br['one_file']['files']} | {br['one_file']['branch_ms']:.1f} | {check(br['one_file']['branch_ms'] <= 5, '≤ 5 ms')} |")
    add(f"| `ALTER TABLE … CREATE BRANCH` | {br['many_files']['files']} | {br['many_files']['branch_ms']:.1f} | {check(br['many_files']['branch_ms'] <= 5, '≤ 5 ms')} |")
    add(f"| plan `SELECT * … WHERE k = 4242` (one partition) | {br['planning']['files']} | {br['planning']['plan_ms']:.1f} | {check(br['planning']['plan_ms'] <= 100, '≤ 100 ms')} |")
    add("")
    add(f"The planned scan: `{br['planning']['scan']}`.")
    add("")
    if (args.results / "sessions.json").exists():
        lines.extend(sessions_section(args.results, args.profile, args.sf))
        add("")
    if (args.results / "flight.json").exists():
        lines.extend(flight_section(args.results, args.profile, args.sf))
        add("")
    if (args.results / "pipeline.json").exists():
        lines.extend(pipeline_section(args.results, args.profile))
        add("")
    if (args.results / "rest.json").exists():
        lines.extend(rest_section(args.results, args.profile))
        add("")
    if (args.results / "rck" / "TEST-junit-jupiter.xml").exists():
        lines.extend(rck_section(args.results, args.profile))
    if (args.results / "history.jsonl").exists():
        lines.extend(history_section(args.results, args.profile))
        add("")
    notes = Path(__file__).parent / "NOTES.md"
    if notes.exists():
        add(notes.read_text().strip())
        add("")
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
