/**
 * Which runs to merge next. Runs stay in version order and a merge takes ADJACENT
 * runs (see docs/ARCHITECTURE.md, "Compaction"), so the read path's rule that
 * sources never overlap in versions holds without change.
 *
 * Policies (measured in bench/compaction-policy.ts, numbers in ARCHITECTURE.md):
 * - 'tiered' (the default): a run's tier is its descriptor `level` (flushed runs
 *   are tier 0) unless a trivial move raised it (RunHandle#tier, trivial-move.ts).
 *   When COMPACTION_FANOUT or more adjacent runs share a tier (the runs of one move
 *   counted once), they merge into one run of the next tier, or are moved there
 *   when the merge would be their concatenation, copied unchanged
 *   (compaction-protocol.ts). Each entry is rewritten about once per tier: write
 *   amplification grows with log_fanout(data / flush size).
 * - 'full': whenever there is more than one run, all of them merge into one.
 *   Least space and one run per read, but each flush rewrites everything.
 *
 * The cold tier (compressionForTier, docs/ARCHITECTURE.md "The cold tier"): a merge
 * whose output tier is COLD_TIER_MIN or deeper writes its data blocks compressed
 * (COLD_TIER_COMPRESSION, run format 4). Such a run holds the store's older data (at least
 * COMPACTION_FANOUT^2 flushes merged twice), is rewritten rarely, and is read less
 * than the recent tiers; tiers 0 and 1 stay uncompressed (warm), since they are
 * rewritten soon after they are written.
 *
 * Invariant: a pick is a non-empty slice of adjacent live runs, oldest first.
 */
import type { RunHandle } from '../engine/run-set.js';
import type { RunCompressionName } from '../run/run-format.js';
import { COMPACTION_STALL_RUNS } from '../limits.js';
import { assert } from '../util/assert.js';

/**
 * Live runs above which a pick is merged rather than moved (trivial-move.ts): moved runs
 * stay, one per ~16 flushes once the cold tiers fill, and each is one more key-span
 * check for a get that passes it; a merge then brings the count down. Well under
 * COMPACTION_STALL_RUNS; a store of 23 runs cost ~0.2 us per run per uniform get
 * (docs/ARCHITECTURE.md, "Runs a get asks after a load").
 */
export const TRIVIAL_MOVE_RUNS_MAX = 24;
/**
 * Smallest run a move keeps (file bytes, every input; trivial-move.ts): rewriting small
 * runs costs little and merging them keeps the run count (a get's range checks, open
 * files, opens after a reopen) down; the moves pay off on flush-sized runs (a 64 MiB
 * budget flushes ~4.8 MB runs).
 */
export const TRIVIAL_MOVE_MIN_RUN_BYTES = 1024 * 1024;
/** Adjacent runs of one tier that trigger a merge. */
export const COMPACTION_FANOUT = 4;
/** Deepest tier a merge writes (a u32 in the descriptor; far beyond any real store). */
export const COMPACTION_TIER_MAX = 64;

/** Shallowest tier whose runs are written compressed (the cold tier). */
export const COLD_TIER_MIN = 2;
/**
 * The cold tier's codec: raw deflate level 1 over packed 4 KiB blocks (run format 4,
 * src/run/block-compression.ts): a point read that misses the cache inflates one
 * small block, 4.5-8.8 us on this machine, where brotli 1 over the 24 KiB blocks of
 * format 3 took 18-43 us for about the same file size.
 */
export const COLD_TIER_COMPRESSION: RunCompressionName = 'deflate';

assert(COMPACTION_FANOUT >= 2, 'a merge takes at least two runs');
assert(COLD_TIER_MIN >= 1 && COLD_TIER_MIN <= COMPACTION_TIER_MAX, 'flushed runs (tier 0) are never cold');

/** How a run written at `tier` stores its data blocks: compressed from COLD_TIER_MIN on. */
export function compressionForTier(tier: number): RunCompressionName {
  assert(Number.isInteger(tier) && tier >= 0, 'a tier is a non-negative integer');
  return tier >= COLD_TIER_MIN ? COLD_TIER_COMPRESSION : 'none';
}
assert(COMPACTION_STALL_RUNS >= (COMPACTION_FANOUT - 1) * 8 + COMPACTION_FANOUT, 'a store in shape with 8 tiers does not stall writes');

export type CompactionPolicyName = 'tiered' | 'full';

/**
 * The policy engines opened from now on use, and the run count above which writes
 * wait for compaction (internal: benchmarks and tests switch them; not store options).
 */
/**
 * `mergeThread` (internal, tests and the bench): 'worker' merges in the store's merge
 * thread (merge-thread.ts) when the store's file system is the real one and the worker
 * is built, else in process; 'main' always merges on the main thread.
 * `trivialMoveRunsMax` (internal, tests): above this many live runs a pick is merged,
 * never moved (trivial-move.ts). `trivialMoveMinRunBytes` (internal, tests: crash sweeps
 * over moves of small runs): a run under it is merged, never moved.
 */
export const compactionSettings: {
  policy: CompactionPolicyName; stallRunCount: number; mergeThread: 'worker' | 'main'; trivialMoveRunsMax: number; trivialMoveMinRunBytes: number;
} = {
  policy: 'tiered',
  stallRunCount: COMPACTION_STALL_RUNS,
  mergeThread: 'worker',
  trivialMoveRunsMax: TRIVIAL_MOVE_RUNS_MAX,
  trivialMoveMinRunBytes: TRIVIAL_MOVE_MIN_RUN_BYTES,
};

export interface CompactionPick {
  inputs: RunHandle[];
  /** Tier (descriptor level) of the merged run. */
  outputLevel: number;
}

/** The merge the policy wants now, or undefined when the runs are in shape. */
export function pickCompaction(runs: readonly RunHandle[], policy: CompactionPolicyName): CompactionPick | undefined {
  if (runs.length < 2) return undefined;
  if (policy === 'full') return { inputs: runs.slice(), outputLevel: outputLevelOf(runs) };
  // The newest qualifying group first: small runs merge before large ones.
  let end = runs.length;
  while (end > 0) {
    const level = runs[end - 1]!.tier;
    let start = end - 1;
    while (start > 0 && runs[start - 1]!.tier === level) start--;
    if (unitCount(runs, start, end) >= COMPACTION_FANOUT) {
      const inputs = runs.slice(start, end);
      return { inputs, outputLevel: Math.min(level + 1, COMPACTION_TIER_MAX) };
    }
    end = start;
  }
  return undefined;
}

/** Runs in runs[start, end), the runs of one trivial move (trivial-move.ts) counted once. */
function unitCount(runs: readonly RunHandle[], start: number, end: number): number {
  let count = 0;
  for (let index = start; index < end; index++) {
    const unit = runs[index]!.moveUnit;
    if (unit === undefined || unit !== runs[index - 1]?.moveUnit) count++;
  }
  return count;
}

/** The runs a `compact({ gte, lt })` call merges: the adjacent span of runs whose keys meet the range. */
export function pickRange(runs: readonly RunHandle[], gte: string | undefined, lt: string | undefined): CompactionPick | undefined {
  let first = -1;
  let last = -1;
  runs.forEach((run, index) => {
    const { smallestKey, largestKey } = run.descriptor;
    const meets = (gte === undefined || largestKey >= gte) && (lt === undefined || smallestKey < lt);
    if (!meets) return;
    if (first < 0) first = index;
    last = index;
  });
  if (first < 0) return undefined;
  const inputs = runs.slice(first, last + 1);
  return { inputs, outputLevel: outputLevelOf(inputs) };
}

/** Bytes the policy would rewrite if it ran now to completion of this round (compaction debt). */
export function compactionDebtBytes(runs: readonly RunHandle[], policy: CompactionPolicyName): number {
  const pick = pickCompaction(runs, policy);
  if (pick === undefined) return 0;
  return pick.inputs.reduce((total, run) => total + run.descriptor.fileBytes, 0);
}

function outputLevelOf(runs: readonly RunHandle[]): number {
  const deepest = runs.reduce((level, run) => Math.max(level, run.tier), 0);
  return Math.min(deepest + 1, COMPACTION_TIER_MAX);
}
