#!/usr/bin/env bash
# Soak the raft simulation (packages/raft/test/sim): many more seeds than CI runs, in parallel,
# with progress; stops by itself. Environment: SEEDS (default 100000), START (first seed, default
# 1), JOBS (default: one per CPU), STEPS (fault steps per seed), STOP_ON_FAILURE=1.
# A failing seed prints its replay command, e.g.
#   SEED=1234 NODES=5 node --import tsx packages/raft/test/sim/replay.ts
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx packages/raft/test/sim/soak.ts "$@"
