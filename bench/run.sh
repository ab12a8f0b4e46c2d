#!/bin/sh
# The one benchmark command: builds the bench module (and what it needs), runs the suites, writes
# bench/results/latest.json and renders BENCHMARKS.md (+ bench/results/scaling.png) from it.
# A full run takes at most 31 minutes on 2 cores: every suite stops at its hard time budget (BenchMain.FULL_RUN_AT_MOST,
# held by FullRunBudgetTest); the suites' wall times in BENCHMARKS.md show what a run usually takes.
# Usage: bench/run.sh [--quick] [--suite NAME]... [--agents N,N...] [--out FILE]   (root, cgroup v2)
#        bench/run.sh --render-only [--out FILE]   re-renders BENCHMARKS.md from an existing results file
set -eu
cd "$(dirname "$0")/.."
mvn -B -ntp -q -pl bench -am package -DskipTests
exec java -cp "bench/target/classes:bench/target/lib/*" io.lockstep.bench.BenchMain "$@"
