/**
 * What one seed of the cluster simulation does, drawn from its PRNG: which faults are on and how
 * often they strike, the workload's rates, and the raft config. Also the deliberately broken
 * callers (`UnsafeMode`) that prove the checker bites.
 */
import type { NetworkFaults } from "./sim-network.js";

/** A deliberately broken caller, to prove that the checker catches unsafe behaviour. */
export type UnsafeMode =
  /** Send a Ready's messages (acks, votes) before persisting its entries and hard state. */
  | "ack-before-persist"
  /** On restart, forget the vote of the persisted hard state. */
  | "forget-vote"
  /** A transport that never reports whether a snapshot arrived (reportSnapshot is never called). */
  | "no-snapshot-reports";

export const UNSAFE_MODES: readonly UnsafeMode[] = ["ack-before-persist", "forget-vote", "no-snapshot-reports"];

/** What one seed does, all drawn from its PRNG: which faults, how often, and the raft config. */
export interface FaultProfile {
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  network: NetworkFaults;
  /** Per step: start a partition (when none), heal it (when one is active). */
  partition: number;
  heal: number;
  /** Per step: crash a running node; restart each crashed node. */
  crash: number;
  restart: number;
  /** Per Ready: crash in the middle of handling it. */
  crashMidReady: number;
  /** Per action: leave the Ready for later in the step (or a later step). */
  deferReady: number;
  /** Per step: propose on a random node; change membership; transfer leadership. */
  propose: number;
  confChange: number;
  transfer: number;
  /** Per step and node: snapshot and compact the log at the applied index. */
  compact: number;
}

/** Draw a seed's profile: each fault is on or off, and its rate, by the seed's PRNG. */
export function chooseProfile(rand: () => number, unsafe: UnsafeMode | undefined): FaultProfile {
  const on = (p: number) => rand() < p;
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const oneOf = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const electionTick = oneOf([5, 10, 10, 15]);
  const p: FaultProfile = {
    electionTick,
    heartbeatTick: oneOf([1, 2, 3]),
    preVote: on(0.7),
    checkQuorum: on(0.7),
    maxSizePerMsg: oneOf([64, 1024, 1024 * 1024]),
    maxInflightMsgs: oneOf([2, 16, 256]),
    network: {
      drop: on(0.6) ? between(0.01, 0.2) : 0,
      duplicate: on(0.5) ? between(0.01, 0.1) : 0,
      delay: on(0.5) ? between(0.01, 0.1) : 0,
      maxDelay: 3 * electionTick,
      reorder: on(0.5),
    },
    partition: on(0.6) ? between(0.005, 0.03) : 0,
    heal: between(0.02, 0.1),
    crash: on(0.6) ? between(0.003, 0.02) : 0,
    restart: between(0.03, 0.2),
    crashMidReady: on(0.4) ? between(0.001, 0.01) : 0,
    deferReady: on(0.5) ? between(0.1, 0.5) : 0,
    propose: between(0.2, 0.9),
    confChange: on(0.7) ? between(0.005, 0.03) : 0,
    transfer: on(0.5) ? between(0.003, 0.02) : 0,
    compact: between(0.005, 0.05),
  };
  if (unsafe !== undefined) {
    // A broken caller only shows under crashes: make sure there are plenty.
    p.crash = Math.max(p.crash, 0.02);
    p.crashMidReady = Math.max(p.crashMidReady, 0.03);
    p.restart = Math.max(p.restart, 0.1);
  }
  return p;
}
