#!/usr/bin/env python3
"""Runs the arms alternately (order rotated per repetition) and prints
medians of per-repetition ratios with their ranges."""
import argparse, json, socket, statistics, subprocess, sys

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def run(arm, dist, shape, frames, seed):
    port = free_port()
    srv = subprocess.Popen(["target/release/server", "--arm", arm, "--port", str(port), "--conns", "8"],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "listening"
    subprocess.run(["target/release/load", "--port", str(port), "--conns", "8", "--frames", str(frames),
                    "--dist", dist, "--shape", shape, "--seed", str(seed)], check=True)
    out = srv.stdout.readline()
    srv.wait()
    r = json.loads(out)
    r.update(dist=dist, shape=shape, seed=seed)
    return r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=8000)
    ap.add_argument("--dists", default="loguniform")
    ap.add_argument("--shapes", default="level,swing")
    ap.add_argument("--out", default="results.jsonl")
    a = ap.parse_args()
    arms = ["tierpool", "bytesmut", "codec"]
    rows = []
    with open(a.out, "a") as f:
        for rep in range(a.reps):
            for dist in a.dists.split(","):
                for shape in a.shapes.split(","):
                    order = arms[rep % 3:] + arms[:rep % 3]
                    for arm in order:
                        r = run(arm, dist, shape, a.frames, seed=rep + 1)
                        r["rep"] = rep
                        rows.append(r); f.write(json.dumps(r) + "\n"); f.flush()
                        print(json.dumps(r), file=sys.stderr)
    summarize(rows)

def summarize(rows):
    def metric(r, m):
        return {"cpu": (r["user_s"] + r["sys_s"]) / r["frames"], "rss": r["vmhwm_kib"],
                "faults": r["minflt"], "fps": r["frames"] / r["wall_s"]}[m]
    keys = sorted({(r["dist"], r["shape"]) for r in rows})
    for dist, shape in keys:
        sel = [r for r in rows if (r["dist"], r["shape"]) == (dist, shape)]
        reps = sorted({r["rep"] for r in sel})
        print(f"\n{dist} {shape}: {len(reps)} repetitions")
        for base in ["bytesmut", "codec"]:
            line = [f"  tierpool/{base}:"]
            for m in ["cpu", "rss", "faults", "fps"]:
                ratios = []
                for rep in reps:
                    t = [r for r in sel if r["rep"] == rep and r["arm"] == "tierpool"]
                    b = [r for r in sel if r["rep"] == rep and r["arm"] == base]
                    if t and b:
                        ratios.append(metric(t[0], m) / metric(b[0], m))
                line.append(f"{m} {statistics.median(ratios):.3f}x [{min(ratios):.2f}-{max(ratios):.2f}]")
            print("  ".join(line))
        for arm in ["tierpool", "bytesmut", "codec"]:
            a = [r for r in sel if r["arm"] == arm]
            print(f"  {arm}: cpu/frame {statistics.median(metric(r,'cpu') for r in a)*1e6:.1f} us, "
                  f"VmHWM {statistics.median(r['vmhwm_kib'] for r in a)/1024:.1f} MiB, "
                  f"minflt {statistics.median(r['minflt'] for r in a):.0f}, "
                  f"frames/s {statistics.median(metric(r,'fps') for r in a):.0f}")

if __name__ == "__main__":
    if sys.argv[1:2] == ["--summarize"]:
        summarize([json.loads(l) for l in open(sys.argv[2])])
    else:
        main()
