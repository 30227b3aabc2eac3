#!/usr/bin/env bash
# Soak the in-process cluster scenarios (test/cluster: TinyKV's 2B/2C set) over many seeds, in
# parallel worker processes, with a progress line every 10 s; stops by itself when every run is
# done. Environment: SEEDS (seeds per scenario, default 200), START (first seed, default 1000),
# JOBS (default: one per CPU), SCENARIOS (comma-separated names, default all), CLIENT_TICKS,
# STOP_ON_FAILURE=1. A failing run prints its replay command, e.g.
#   SEED=1234 SCENARIO=PersistPartition2B node --import tsx test/cluster/replay.ts
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx test/cluster/soak.ts "$@"
