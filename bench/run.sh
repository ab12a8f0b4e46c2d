#!/bin/sh
# Builds the bench module (and what it needs), then runs the benchmarks.
# Usage: bench/run.sh [--quick] [--out FILE] [--suite NAME]...   (root, cgroup v2)
set -eu
cd "$(dirname "$0")/.."
mvn -B -q -pl bench -am package -DskipTests
exec java -cp "bench/target/classes:bench/target/lib/*" io.lockstep.bench.BenchMain "$@"
