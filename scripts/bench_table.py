#!/usr/bin/env python3
"""Print a Markdown table of tierpool's benchmark ratios from criterion's saved results.

Reads every ``**/new/estimates.json`` (with the ``benchmark.json`` beside it)
under

* ``benches/compare/target/criterion``  (the comparison suite: groups named
  ``<scenario>/<allocator>``, ids ``<impl>/<size>``), and
* ``target/criterion``                   (the root ``pool_vs_alloc`` bench:
  group ``hot_path``, reported as allocator ``sys:root``),

and prints, for every scenario, allocator and size, tierpool's time divided by
each alternative's time (< 1 means the pool wins), then the targets of
BENCHMARKS.md ("How the benchmarks are judged") with pass/fail, then the
machine, the rustc version and the commands.

Usage (from the repository root)::

    python3 scripts/bench_table.py                 # criterion's typical estimate
    python3 scripts/bench_table.py --stat median   # median of the samples
    python3 scripts/bench_table.py --root path/to/tierpool -o bench-table.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

POOL = "tierpool"
# Implementations that allocate instead of pooling; "the fastest allocator"
# in the targets is the fastest of these over every allocator binary.
PLAIN = ("vec_with_capacity", "vec_zeroed", "bytesmut_with_capacity", "vec_into_bytes")
PEERS = ("zeropool", "opool", "object_pool", "lockfree_object_pool", "byte_pool", "santh_bufpool")
FLOOR = "tls_floor"
BASELINES = ("queue_hop", "copy_floor")
SCENARIO_ORDER = ("hot_path", "fill_freeze", "producer_consumer", "scaling")
ALLOCATOR_ORDER = ("sys", "jemalloc", "mimalloc", "sys:root")
SIZE_ORDER = ("4KiB", "64KiB", "1MiB", "mixed")
IMPL_ORDER = (POOL, "tierpool_into_bytes", FLOOR) + PLAIN + PEERS + BASELINES

DEFAULT_BENCH_COMMAND = (
    "cd benches/compare && for a in sys jemalloc mimalloc; do cargo bench --bench $a; done; "
    "cd ../.. && cargo bench --bench pool_vs_alloc"
)


def order_key(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    return (order.index(value), value) if value in order else (len(order), value)


def size_key(label: str) -> tuple:
    base, _, threads = label.partition("_")
    return (order_key(base, SIZE_ORDER), threads)


def load(criterion_dir: Path, stat: str, root_bench: bool) -> list[dict]:
    """One record per benchmark: scenario, allocator, impl, size, ns, bytes, mtime."""
    records = []
    if not criterion_dir.is_dir():
        return records
    for est_path in sorted(criterion_dir.rglob("new/estimates.json")):
        meta_path = est_path.with_name("benchmark.json")
        if not meta_path.is_file():
            continue
        meta = json.loads(meta_path.read_text())
        est = json.loads(est_path.read_text())
        group = meta["group_id"]
        scenario, _, allocator = group.partition("/")
        if root_bench:
            allocator = f"{allocator or 'sys'}:root"
        elif not allocator:
            continue
        if stat == "typical":
            chosen = est.get("slope") or est["mean"]
        else:
            chosen = est[stat]
        throughput = meta.get("throughput") or {}
        records.append(
            {
                "scenario": scenario,
                "allocator": allocator,
                "impl": meta["function_id"],
                "size": meta.get("value_str") or "-",
                "ns": float(chosen["point_estimate"]),
                "bytes": throughput.get("Bytes"),
                "mtime": est_path.stat().st_mtime,
            }
        )
    return records


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def fmt_ratio(r: float) -> str:
    return f"**{r:.2f}**" if r < 1.0 else f"{r:.2f}"


def machine() -> tuple[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return model, str(os.cpu_count() or "?")


def run(cmd: list[str], cwd: Path) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=here, help="repository root (default: this script's repo)")
    ap.add_argument(
        "--stat",
        choices=("typical", "mean", "median"),
        default="typical",
        help="criterion estimate: typical = slope if present else mean (what criterion prints)",
    )
    ap.add_argument("--bench-command", default=DEFAULT_BENCH_COMMAND, help="the command that produced the results, for the footer")
    ap.add_argument("-o", "--output", type=Path, help="write the Markdown here as well as to stdout")
    args = ap.parse_args()

    root = args.root.resolve()
    compare_dir = root / "benches" / "compare"
    records = load(compare_dir / "target" / "criterion", args.stat, root_bench=False)
    records += load(root / "target" / "criterion", args.stat, root_bench=True)
    if not records:
        print(f"no criterion results under {compare_dir / 'target/criterion'} or {root / 'target/criterion'}", file=sys.stderr)
        return 1

    # times[scenario][allocator][size][impl] = record
    times: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in records:
        times[r["scenario"]][r["allocator"]][r["size"]][r["impl"]] = r

    out: list[str] = []
    emit = out.append
    emit("# tierpool benchmark ratios")
    emit("")
    emit(
        f"Each cell: **tierpool time / alternative time** (< 1, in bold, means tierpool wins), "
        f"then the alternative's own time per operation. Estimate: `{args.stat}`."
    )

    for scenario in sorted(times, key=lambda s: order_key(s, SCENARIO_ORDER)):
        for allocator in sorted(times[scenario], key=lambda a: order_key(a, ALLOCATOR_ORDER)):
            by_size = times[scenario][allocator]
            impls = sorted({i for row in by_size.values() for i in row}, key=lambda i: order_key(i, IMPL_ORDER))
            pools = [i for i in impls if i.startswith(POOL)]
            alts = [i for i in impls if not i.startswith(POOL)]
            for pool in pools:
                emit("")
                title = f"## {scenario} — {allocator}"
                if pool != POOL:
                    title += f" — `{pool}`"
                emit(title)
                emit("")
                emit("| size | " + pool + " | " + " | ".join(alts) + " |")
                emit("|---|---:|" + "---:|" * len(alts))
                for size in sorted(by_size, key=size_key):
                    row = by_size[size]
                    if pool not in row:
                        continue
                    p = row[pool]["ns"]
                    cells = []
                    for alt in alts:
                        if alt in row:
                            a = row[alt]["ns"]
                            cells.append(f"{fmt_ratio(p / a)} ({fmt_ns(a)})")
                        else:
                            cells.append("—")
                    emit(f"| {size} | {fmt_ns(p)} | " + " | ".join(cells) + " |")

    # Scaling: aggregate throughput of 2 threads over 1 thread, per impl.
    if "scaling" in times:
        emit("")
        emit("## scaling — aggregate throughput, 2 threads / 1 thread (target ≥ 1.8 for tierpool)")
        for allocator in sorted(times["scaling"], key=lambda a: order_key(a, ALLOCATOR_ORDER)):
            by_size = times["scaling"][allocator]
            bases = sorted({s.rsplit("_", 1)[0] for s in by_size if "_" in s}, key=size_key)
            impls = sorted({i for row in by_size.values() for i in row}, key=lambda i: order_key(i, IMPL_ORDER))
            emit("")
            emit(f"### {allocator}")
            emit("")
            emit("| size | " + " | ".join(impls) + " |")
            emit("|---|" + "---:|" * len(impls))
            for base in bases:
                one, two = by_size.get(f"{base}_1t", {}), by_size.get(f"{base}_2t", {})
                cells = []
                for i in impls:
                    if i in one and i in two and one[i]["bytes"] and two[i]["bytes"]:
                        speedup = (two[i]["bytes"] / two[i]["ns"]) / (one[i]["bytes"] / one[i]["ns"])
                        cells.append(f"{speedup:.2f}x")
                    else:
                        cells.append("—")
                emit(f"| {base} | " + " | ".join(cells) + " |")

    emit("")
    emit("## Targets")
    emit("")
    emit('The targets are those of "How the benchmarks are judged" in BENCHMARKS.md.')
    emit("\"Fastest allocator\" = the fastest plain allocation (Vec/BytesMut) at that size over every allocator binary.")
    emit("")
    emit("| scenario | allocator | size | check | value | target | ok |")
    emit("|---|---|---|---|---:|---:|:-:|")

    def target(scenario, allocator, size, check, value, limit, at_most=True):
        ok = value <= limit if at_most else value >= limit
        op = "≤" if at_most else "≥"
        emit(f"| {scenario} | {allocator} | {size} | {check} | {value:.2f} | {op} {limit} | {'yes' if ok else '**no**'} |")

    def fastest_plain(scenario, size):
        best = None
        for allocator, by_size in times[scenario].items():
            if allocator.endswith(":root"):
                continue
            for impl, rec in by_size.get(size, {}).items():
                if impl in PLAIN and (best is None or rec["ns"] < best[0]):
                    best = (rec["ns"], f"{impl}@{allocator}")
        return best

    for scenario in sorted(times, key=lambda s: order_key(s, SCENARIO_ORDER)):
        for allocator in sorted(times[scenario], key=lambda a: order_key(a, ALLOCATOR_ORDER)):
            if allocator.endswith(":root"):
                continue
            for size in sorted(times[scenario][allocator], key=size_key):
                row = times[scenario][allocator][size]
                if POOL not in row:
                    continue
                p = row[POOL]["ns"]
                if scenario == "hot_path":
                    if FLOOR in row:
                        target(scenario, allocator, size, "tierpool / tls_floor", p / row[FLOOR]["ns"], 1.5)
                    best = fastest_plain(scenario, size)
                    if best and size != "mixed":
                        limit = 1.0 if size == "4KiB" else 0.5
                        target(scenario, allocator, size, f"tierpool / fastest allocator ({best[1]})", p / best[0], limit)
                elif scenario == "fill_freeze" and "bytesmut_with_capacity" in row:
                    target(scenario, allocator, size, "tierpool / bytesmut_with_capacity", p / row["bytesmut_with_capacity"]["ns"], 0.8)
                elif scenario == "producer_consumer":
                    best = fastest_plain(scenario, size)
                    if best:
                        target(scenario, allocator, size, f"tierpool / fastest allocator ({best[1]})", p / best[0], 0.5)
                peers = [(row[i]["ns"], i) for i in PEERS if i in row]
                if peers:
                    ns, name = min(peers)
                    target(scenario, allocator, size, f"tierpool / best peer ({name})", p / ns, 1.0)
    if "scaling" in times:
        for allocator, by_size in sorted(times["scaling"].items(), key=lambda kv: order_key(kv[0], ALLOCATOR_ORDER)):
            for base in sorted({s.rsplit("_", 1)[0] for s in by_size if "_" in s}, key=size_key):
                one, two = by_size.get(f"{base}_1t", {}), by_size.get(f"{base}_2t", {})
                if POOL in one and POOL in two:
                    speedup = (two[POOL]["bytes"] / two[POOL]["ns"]) / (one[POOL]["bytes"] / one[POOL]["ns"])
                    target("scaling", allocator, base, "tierpool 2-thread / 1-thread throughput", speedup, 1.8, at_most=False)

    model, cpus = machine()
    rustc = run(["rustc", "--version"], compare_dir if compare_dir.is_dir() else root)
    mtimes = [r["mtime"] for r in records]
    first = dt.datetime.fromtimestamp(min(mtimes)).isoformat(timespec="seconds")
    last = dt.datetime.fromtimestamp(max(mtimes)).isoformat(timespec="seconds")
    emit("")
    emit("## Environment")
    emit("")
    emit(f"- machine: {model}, {cpus} CPUs (nproc)")
    emit(f"- rustc: {rustc}")
    emit(f"- results measured between {first} and {last} ({len(records)} benchmarks)")
    emit(f"- bench command: `{args.bench_command}`")
    emit(f"- table command: `{' '.join(shlex.quote(a) for a in ['python3', 'scripts/bench_table.py', *sys.argv[1:]])}`")

    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


# --- The service bench (benches/service.rs) ---------------------------------
#
# ``python3 scripts/bench_table.py --service target/tierpool-service/latest.txt``
# renders the summary lines of ``cargo bench --features tokio --bench service`` as Markdown
# instead of the criterion tables above (which it neither reads nor needs).

SERVICE_BASELINES = ("bytesmut", "codec")
SERVICE_ARM_ORDER = ("tierpool-frames", "tierpool-frames-heap", "tierpool-frames-plain", "tierpool", "codec", "bytesmut", "vec")
SERVICE_DIST_ORDER = ("loguniform", "small", "trace")
SERVICE_SHAPE_ORDER = ("level", "swing")


def parse_service(path: Path) -> tuple[dict, dict, dict]:
    """The header fields; per (dist, shape, arm), the fields of its service,
    detail and pool lines; per (dist, shape, arm, baseline), its ratio line."""
    header: dict = {}
    rows: dict = defaultdict(dict)
    ratios: dict = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            for token in shlex.split(text.lstrip("#")):
                key, sep, value = token.partition("=")
                if sep:
                    header[key] = value
            continue
        kind, _, rest = text.partition(" ")
        if kind not in ("service", "detail", "pool", "ratio"):
            continue
        fields = dict(token.partition("=")[::2] for token in rest.split())
        key = (fields.pop("dist", "?"), fields.pop("shape", "level"), fields.pop("arm", "?"))
        if kind == "ratio":
            ratios[(*key, fields.pop("vs", "?"))] = fields
        else:
            rows[key].update({f"{kind}.{name}": value for name, value in fields.items()})
    return header, rows, ratios


def render_service(path: Path) -> str:
    header, rows, ratios = parse_service(path)
    if not rows:
        raise ValueError(f"no `service` lines in {path}")
    out: list[str] = []
    emit = out.append
    emit("# tierpool service bench")
    emit("")
    emit(
        "Medians over the repetitions of the broker's figures (`benches/service.rs`), "
        "the range of the repetitions in brackets. Minor faults are per 100,000 frames. "
        "Ratios are the arm's figure over the baseline's, per repetition (the two runs "
        "of a pair ran one after the other): their median, and their range in brackets. "
        "Above 1 is more frames per second, more CPU per frame, more memory, more faults."
    )

    def num(row: dict, key: str) -> float | None:
        try:
            return float(row[key])
        except (KeyError, ValueError):
            return None

    def cell(value: float | None, digits: int) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    def spread(row: dict, key: str) -> str:
        text = row.get(key)
        return f" [{text.replace('-', '–', 1)}]" if text else ""

    cases = sorted(
        {(dist, shape) for dist, shape, _ in rows},
        key=lambda c: (order_key(c[0], SERVICE_DIST_ORDER), order_key(c[1], SERVICE_SHAPE_ORDER)),
    )
    for dist, shape in cases:
        arms = sorted((a for d, sh, a in rows if (d, sh) == (dist, shape)), key=lambda a: order_key(a, SERVICE_ARM_ORDER))
        emit("")
        emit(f"## {dist}, {shape}")
        emit("")
        emit("| arm | frames/s | MB/s | CPU s / 100k frames | peak RSS MiB | minor faults / 100k frames | pool hit rate | pool peak in use MiB |")
        emit("|---|---:|---:|---:|---:|---:|---:|---:|")
        for arm in arms:
            row = rows[(dist, shape, arm)]
            hit_rate = num(row, "pool.hit_rate")
            emit(
                f"| {arm} | {cell(num(row, 'service.frames_per_s'), 0)} | {cell(num(row, 'detail.mb_per_s'), 0)} "
                f"| {cell(num(row, 'service.cpu_s_per_100k'), 2)}{spread(row, 'service.cpu_range')} "
                f"| {cell(num(row, 'service.peak_rss_mib'), 1)}{spread(row, 'service.rss_range')} "
                f"| {cell(num(row, 'service.minor_faults'), 0)} "
                f"| {'—' if hit_rate is None else f'{hit_rate:.2%}'} | {cell(num(row, 'pool.peak_in_use_mib'), 1)} |"
            )
        for base in SERVICE_BASELINES:
            mine = [(a, ratios[(dist, shape, a, base)]) for a in arms if (dist, shape, a, base) in ratios]
            if not mine:
                continue
            emit("")
            emit(f"Against `{base}`:")
            emit("")
            emit("| arm | frames/s | CPU per frame | peak RSS | minor faults |")
            emit("|---|---:|---:|---:|---:|")
            for arm, fields in mine:
                cells = [
                    f"{cell(num(fields, key), 3)}{spread(fields, key + '_range')}"
                    for key in ("frames_per_s", "cpu_per_frame", "peak_rss", "minor_faults")
                ]
                emit(f"| {arm} | " + " | ".join(cells) + " |")

    model, cpus = machine()
    emit("")
    emit("## Environment")
    emit("")
    if "unix_time" in header:
        when = dt.datetime.fromtimestamp(int(header["unix_time"]), dt.timezone.utc).isoformat(timespec="seconds")
        emit(f"- started: {when}")
    emit(f"- machine: {model}, {header.get('cpus', cpus)} CPUs")
    emit(
        f"- {header.get('reps', '?')} repetitions, {header.get('mode', '?')} run, frames per run: {header.get('frames', '?')}; "
        f"{header.get('connections', '?')} connections, {header.get('broker_workers', '?')} broker workers, "
        f"{header.get('in_flight_level', '?')} frames in flight per connection (level), "
        f"{header.get('in_flight_swing', '?')} (swing), channel depth {header.get('channel_depth', '?')}"
    )
    emit(f"- bench arguments: `{header.get('args', '').strip()}`")
    emit(f"- table command: `{' '.join(shlex.quote(a) for a in ['python3', 'scripts/bench_table.py', *sys.argv[1:]])}`")
    return "\n".join(out) + "\n"


def service_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Print a Markdown table of the service bench's results.")
    ap.add_argument("--service", type=Path, required=True, metavar="FILE", help="target/tierpool-service/latest.txt")
    ap.add_argument("-o", "--output", type=Path, help="write the Markdown here as well as to stdout")
    args = ap.parse_args(argv)
    try:
        text = render_service(args.service)
    except (OSError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    if any(arg == "--service" or arg.startswith("--service=") for arg in sys.argv[1:]):
        sys.exit(service_main(sys.argv[1:]))
    sys.exit(main())
