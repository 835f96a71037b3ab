#!/usr/bin/env python3
"""Show that every loom model catches a bug: inject each bug of
``scripts/loom_mutants.toml`` into a copy of the crate and run the model
that should catch it.

For every mutation the script puts the pristine file back, replaces the
mutation's ``find`` snippet (which must occur exactly once) with its
``replace`` text, builds, and runs the named model under loom with the
flags of the ``loom`` stage of ``.ci/run``. The mutation is *caught* when
the model fails and its output contains the mutation's ``expect`` text (an
assertion message, or loom's "Causality violation"); a model that passes,
or fails for another reason, is a *miss*.

Before any mutation, the unmutated copy must pass every loom model (the
baseline), every model must have at least one mutation, and every snippet
must be found exactly once, so the list cannot silently rot as the code
changes. The exit status is non-zero if anything is missed or missing.

Usage (from anywhere in a checkout; needs git, cargo and Python >= 3.11)::

    python3 scripts/loom_mutants.py                  # baseline, then every mutation
    python3 scripts/loom_mutants.py is_unique_relaxed in_use_cas_load_store
    python3 scripts/loom_mutants.py --check          # snippets and coverage only, no build
    python3 scripts/loom_mutants.py --list           # the mutations and their models
    python3 scripts/loom_mutants.py --survey NAME    # which models catch NAME (all models run)

The copy is the working tree (tracked and untracked, not ignored, files), so
uncommitted edits are included. It lives in ``target/loom-mutants/crate``
and builds into ``target/loom-mutants/target``, one target directory for
every mutation and every run: dependencies are built once, and each
mutation rebuilds only the crate. (Not ``target/loom``: cargo names a path
package's artifacts by its path relative to the workspace, so the copy and
the checkout would overwrite each other's test binary there.)
``LOOM_MAX_PREEMPTIONS`` (default 3) is passed on as in ``.ci/run``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    sys.exit("loom_mutants.py needs Python 3.11 or later (for tomllib)")

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS = ROOT / "scripts" / "loom_mutants.toml"
WORK = ROOT / "target" / "loom-mutants"
COPY = WORK / "crate"
TARGET_DIR = WORK / "target"
# The features of the `loom` stage of `.ci/run`.
FEATURES = ("--features", "io-uring")
FIELDS = ("name", "file", "model", "bug", "find", "replace", "expect")


@dataclass
class Mutation:
    name: str
    file: str
    model: str
    bug: str
    find: str
    replace: str
    expect: str


@dataclass
class Outcome:
    name: str
    model: str
    verdict: str  # "caught", "MISSED", "FAILED OTHERWISE", "BUILD FAILED", "TIMEOUT"
    how: str
    secs: float

    @property
    def ok(self) -> bool:
        return self.verdict == "caught"


def load_mutations() -> list[Mutation]:
    with MUTATIONS.open("rb") as f:
        data = tomllib.load(f)
    mutations = []
    for index, entry in enumerate(data.get("mutation", [])):
        missing = [k for k in FIELDS if not isinstance(entry.get(k), str) or not entry[k]]
        extra = sorted(set(entry) - set(FIELDS))
        if missing or extra:
            sys.exit(f"{MUTATIONS.name}: mutation #{index + 1} ({entry.get('name')}): "
                     f"missing {missing}, unknown {extra}")
        mutations.append(Mutation(**{k: entry[k] for k in FIELDS}))
    names = [m.name for m in mutations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        sys.exit(f"{MUTATIONS.name}: duplicate names {duplicates}")
    return mutations


def cargo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RUSTFLAGS="--cfg loom",
        LOOM_MAX_PREEMPTIONS=os.environ.get("LOOM_MAX_PREEMPTIONS", "3"),
        CARGO_TARGET_DIR=str(TARGET_DIR),
        CARGO_INCREMENTAL="0",
        CARGO_TERM_COLOR="never",
    )
    return env


def cargo(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs cargo in the copy; on a timeout, kills it with the test binary
    it started (its own process group) and raises `TimeoutExpired`."""
    with subprocess.Popen(
        ["cargo", *args],
        cwd=COPY,
        env=cargo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except BaseException:  # the timeout, or Ctrl-C
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, output)


def copy_crate() -> None:
    """Copies the working tree's tracked and untracked (not ignored) files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE,
    ).stdout.decode().split("\0")
    if COPY.exists():
        shutil.rmtree(COPY)
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():  # skips files deleted but not yet committed
            (COPY / rel).parent.mkdir(parents=True, exist_ok=True)
            # `copy`, not `copy2`: a fresh modification time, so cargo
            # rebuilds over the last run's mutated build.
            shutil.copy(source, COPY / rel)


def snippet_errors(mutations: list[Mutation]) -> list[str]:
    errors = []
    for m in mutations:
        path = COPY / m.file
        if not path.is_file():
            errors.append(f"{m.name}: no file {m.file}")
            continue
        count = path.read_text().count(m.find)
        if count != 1:
            errors.append(f"{m.name}: the snippet occurs {count} times in {m.file}, not once:\n"
                          + indent(m.find))
    return errors


def indent(text: str) -> str:
    return "".join(f"    | {line}\n" for line in text.splitlines())


def list_models() -> list[str]:
    """The loom models: the `#[test]` functions of src/loom_tests/, one
    file per topic. Remembers each model's test path for `run_model`."""
    for path in sorted((COPY / "src" / "loom_tests").glob("*.rs")):
        topic = "" if path.stem == "mod" else f"{path.stem}::"
        for name in re.findall(r"^#\[test\]\s*\nfn (\w+)\(", path.read_text(), re.M):
            MODEL_PATHS[name] = f"loom_tests::{topic}{name}"
    return sorted(MODEL_PATHS)


# Model name -> its test path (`loom_tests::topic::name`), from list_models.
MODEL_PATHS: dict[str, str] = {}


def failure(output: str) -> str:
    """The first panic message of a failed run, on one line: the message
    (cut to 120 characters) and, for `assert_eq!`, the two values."""
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if "panicked at" in line and i + 1 < len(lines) and lines[i + 1]:
            message = lines[i + 1]
            if len(message) > 120:
                message = message[:117] + "..."
            values = [v for v in lines[i + 2:i + 4] if v.startswith(("left:", "right:"))]
            return message + (f" ({', '.join(values)})" if values else "")
    for line in lines:
        if "error" in line.lower():
            return line
    return "(no panic message)"


def run_model(model: str, timeout: float) -> tuple[int | None, str]:
    """Runs one model; returns its exit code (None on timeout) and output."""
    try:
        result = cargo(
            ["test", "--profile", "loom", "--lib", *FEATURES, MODEL_PATHS[model], "--",
             "--exact", "--test-threads=1"],
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return result.returncode, result.stdout


def apply(m: Mutation, pristine: dict[str, str]) -> None:
    path = COPY / m.file
    text = pristine.setdefault(m.file, path.read_text())
    assert text.count(m.find) == 1, m.name
    path.write_text(text.replace(m.find, m.replace, 1))


def restore(pristine: dict[str, str]) -> None:
    for file, text in pristine.items():
        if (COPY / file).read_text() != text:
            (COPY / file).write_text(text)


def build() -> subprocess.CompletedProcess:
    return cargo(["test", "--profile", "loom", "--lib", *FEATURES, "--no-run"])


def try_mutation(m: Mutation, pristine: dict[str, str], timeout: float) -> Outcome:
    start = time.monotonic()
    apply(m, pristine)
    try:
        built = build()
        if built.returncode != 0:
            return Outcome(m.name, m.model, "BUILD FAILED", failure(built.stdout),
                           time.monotonic() - start)
        code, output = run_model(m.model, timeout)
    finally:
        restore(pristine)
    secs = time.monotonic() - start
    if code is None:
        return Outcome(m.name, m.model, "TIMEOUT", f"no result in {timeout:.0f} s", secs)
    if code == 0:
        return Outcome(m.name, m.model, "MISSED", "the model passed", secs)
    how = failure(output)
    if m.expect not in output:
        return Outcome(m.name, m.model, "FAILED OTHERWISE",
                       f"{how} (expected: {m.expect})", secs)
    return Outcome(m.name, m.model, "caught", how, secs)


def survey(m: Mutation, models: list[str], pristine: dict[str, str], timeout: float) -> None:
    apply(m, pristine)
    try:
        built = build()
        if built.returncode != 0:
            print(built.stdout)
            sys.exit(f"{m.name}: the mutated crate does not build")
        for model in models:
            code, output = run_model(model, timeout)
            verdict = ("passes" if code == 0 else "TIMEOUT" if code is None
                       else f"fails: {failure(output)}")
            print(f"  {model}: {verdict}", flush=True)
    finally:
        restore(pristine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="only check the snippets and that every model has a mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations")
    parser.add_argument("--survey", action="store_true",
                        help="run every model against each named mutation, not only its own")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds one model run may take (default 600)")
    args = parser.parse_args()

    mutations = load_mutations()
    if args.list:
        for m in mutations:
            print(f"{m.name}  [{m.file} -> {m.model}]\n    {m.bug}")
        return 0
    unknown = sorted(set(args.names) - {m.name for m in mutations})
    if unknown:
        sys.exit(f"no such mutation: {', '.join(unknown)} (see --list)")
    selected = [m for m in mutations if not args.names or m.name in args.names]

    print(f"copying the working tree to {COPY.relative_to(ROOT)}", flush=True)
    copy_crate()
    errors = snippet_errors(mutations)
    models = list_models()
    covered = {m.model for m in mutations}
    errors += [f"{m.name}: no loom model named {m.model}"
               for m in mutations if m.model not in models]
    errors += [f"loom model {model} has no mutation" for model in models if model not in covered]
    if errors:
        print("\n".join(errors))
        print(f"{len(errors)} problem(s) in {MUTATIONS.relative_to(ROOT)}")
        return 2
    print(f"{len(mutations)} mutations, every snippet found once; "
          f"{len(models)} loom models, each with a mutation", flush=True)
    if args.check:
        return 0

    pristine: dict[str, str] = {}
    if args.survey:
        for m in selected:
            print(f"{m.name} ({m.file}):", flush=True)
            survey(m, models, pristine, args.timeout)
        return 0

    print("baseline: every loom model on the unmutated copy ...", flush=True)
    start = time.monotonic()
    baseline = cargo(["test", "--profile", "loom", "--lib", *FEATURES, "loom_tests", "--", "--test-threads=2"])
    if baseline.returncode != 0:
        print(baseline.stdout)
        print("the unmutated copy fails its loom models: fix that first")
        return 1
    passed = re.search(r"test result: ok\. (\d+) passed", baseline.stdout)
    if not passed or int(passed.group(1)) != len(models):
        print(baseline.stdout)
        print(f"the baseline did not run the {len(models)} models of src/loom_tests/")
        return 1
    print(f"baseline: {len(models)} models pass ({time.monotonic() - start:.0f} s)", flush=True)

    outcomes = []
    for m in selected:
        outcome = try_mutation(m, pristine, args.timeout)
        outcomes.append(outcome)
        print(f"{outcome.verdict:>16}  {m.name} -> {m.model} ({outcome.secs:.0f} s): "
              f"{outcome.how}", flush=True)

    print("\n| mutation | model | result | how it failed |\n|---|---|---|---|")
    for o in outcomes:
        how = o.how.replace("|", "\\|")
        print(f"| `{o.name}` | `{o.model}` | {o.verdict} | {how} |")
    bad = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(bad)} of {len(outcomes)} mutations caught")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
