/**
 * The one table of every lock in the store: its name, its rank, what it guards and
 * who takes it. LOCK_ORDER.md mirrors this table row for row (a tidy test checks it).
 *
 * THE RULE: acquire in ascending rank; never take a lock whose rank is at or below
 * one you already hold. (The seed storage stack stated its rule inverted; this is
 * the correct one.) Debug mode enforces it at runtime, see ordered-mutex.ts.
 *
 * Invariants (asserted at module load):
 * - names are unique, ranks are unique positive integers below LOCK_RANK_LIMIT;
 * - the table is sorted by ascending rank;
 * - every seed race number is one of the nine seed races (1..9).
 *
 * A `reserved` entry fixes the rank of a component a later issue builds; no code
 * may construct a mutex for it until the entry is marked implemented (reserved: false).
 */
import { assert } from '../util/assert.js';

export type LockName =
  | 'store.lifecycle'
  | 'manifest'
  | 'commit'
  | 'wal.writer'
  | 'transactions.active'
  | 'index'
  | 'tier.hot'
  | 'tier.warm'
  | 'stripe.parity'
  | 'tier.cold'
  | 'writeBuffer'
  | 'dependencyGraph'
  | 'lru';

export interface LockTableEntry {
  readonly name: LockName;
  /** Position in the global order: take locks in ascending rank only. */
  readonly rank: number;
  /** The state this lock protects. */
  readonly guards: string;
  /** The code paths that take it, and for how long. */
  readonly takenBy: string;
  /** True while no code uses the lock yet: the rank is reserved for a later issue. */
  readonly reserved: boolean;
  /** The source system's race conditions (numbered 1..9 in its technical-debt list) this lock's critical section rules out. */
  readonly seedRaces: readonly number[];
}

/** Ranks are below this bound, so they print in three digits and leave room between. */
export const LOCK_RANK_LIMIT = 1000;
/** The seed storage stack lists nine race conditions, numbered from 1. */
export const SEED_RACE_COUNT = 9;

function lockEntry(entry: LockTableEntry): LockTableEntry {
  return Object.freeze({ ...entry, seedRaces: Object.freeze([...entry.seedRaces]) });
}

export const STORE_LIFECYCLE_LOCK = lockEntry({
  name: 'store.lifecycle',
  rank: 10,
  guards: 'the open/closing/closed state of a store handle; checkpoint; close',
  takenBy: 'close() (waits for in-flight commits); later, checkpoint',
  reserved: false,
  seedRaces: [],
});

export const MANIFEST_LOCK = lockEntry({
  name: 'manifest',
  rank: 20,
  guards: "the manifest: edit append, the edit chain's length check and increment, the full rewrite",
  takenBy: 'flush install, checkpoint, open',
  reserved: false,
  seedRaces: [9],
});

export const COMMIT_LOCK = lockEntry({
  name: 'commit',
  rank: 30,
  guards:
    'a transaction\'s conflict check, version assignment, the conflict log, and the order in which ' +
    'commit records are handed to the WAL',
  takenBy: 'every write (put, delete, batch, transaction commit), for a synchronous critical section; close()',
  reserved: false,
  seedRaces: [2],
});

export const WAL_WRITER_LOCK = lockEntry({
  name: 'wal.writer',
  rank: 40,
  guards: 'the active WAL segment, its write offset, segment rotation',
  takenBy: 'the group-commit flusher, across one write and one fdatasync',
  reserved: false,
  seedRaces: [1],
});

export const TRANSACTIONS_ACTIVE_LOCK = lockEntry({
  name: 'transactions.active',
  rank: 50,
  guards: 'the epoch guard and the active snapshot pins; the epoch is re-checked under it',
  takenBy: 'transaction begin and end, snapshot pin and unpin, version retention',
  reserved: true,
  seedRaces: [7],
});

export const INDEX_LOCK = lockEntry({
  name: 'index',
  rank: 60,
  guards: 'the key index and its temporal (versioned) entries',
  takenBy: 'apply after the WAL sync, version pruning, checkpoint snapshot of the index',
  reserved: true,
  seedRaces: [],
});

export const TIER_HOT_LOCK = lockEntry({
  name: 'tier.hot',
  rank: 70,
  guards: 'the hot (memory) tier; a whole eviction, victims re-checked under it',
  takenBy: 'the evictor, and reads and writes of hot entries',
  reserved: true,
  seedRaces: [8],
});

export const TIER_WARM_LOCK = lockEntry({
  name: 'tier.warm',
  rank: 80,
  guards: 'the warm tier index (block files)',
  takenBy: 'the flusher moving entries to warm blocks, warm reads',
  reserved: true,
  seedRaces: [],
});

export const STRIPE_PARITY_LOCK = lockEntry({
  name: 'stripe.parity',
  rank: 85,
  guards: 'a stripe: the data block write and its parity update, in one section',
  takenBy: 'warm and cold block writes, repair',
  reserved: true,
  seedRaces: [5],
});

export const TIER_COLD_LOCK = lockEntry({
  name: 'tier.cold',
  rank: 90,
  guards: 'the cold tier index (compressed block files)',
  takenBy: 'the compactor moving blocks to cold, cold reads',
  reserved: true,
  seedRaces: [],
});

export const WRITE_BUFFER_LOCK = lockEntry({
  name: 'writeBuffer',
  rank: 100,
  guards: 'the write buffer: id allocation and insertion, in one section',
  takenBy: 'eviction into the buffer, the flusher draining it',
  reserved: true,
  seedRaces: [4],
});

export const DEPENDENCY_GRAPH_LOCK = lockEntry({
  name: 'dependencyGraph',
  rank: 110,
  guards: 'both maps of the flush dependency graph, updated in one section',
  takenBy: 'the write buffer recording a write, the flusher ordering a flush',
  reserved: true,
  seedRaces: [6],
});

export const LRU_LOCK = lockEntry({
  name: 'lru',
  rank: 120,
  guards: 'the LRU order: one structure, touch and evict in one section, no duplicates',
  takenBy: 'every hot read or write (touch), the evictor (pick victims)',
  reserved: true,
  seedRaces: [3],
});

/** Every lock, in ascending rank. */
export const LOCK_TABLE: readonly LockTableEntry[] = Object.freeze([
  STORE_LIFECYCLE_LOCK,
  MANIFEST_LOCK,
  COMMIT_LOCK,
  WAL_WRITER_LOCK,
  TRANSACTIONS_ACTIVE_LOCK,
  INDEX_LOCK,
  TIER_HOT_LOCK,
  TIER_WARM_LOCK,
  STRIPE_PARITY_LOCK,
  TIER_COLD_LOCK,
  WRITE_BUFFER_LOCK,
  DEPENDENCY_GRAPH_LOCK,
  LRU_LOCK,
]);

/** The table entry named `name`, or undefined when the table has no such lock. */
export function findLockTableEntry(name: string): LockTableEntry | undefined {
  return LOCK_TABLE.find((entry) => entry.name === name);
}

function assertEntryValid(entry: LockTableEntry): void {
  assert(Number.isInteger(entry.rank), `lock ${entry.name}: rank ${entry.rank} is not an integer`);
  assert(entry.rank > 0 && entry.rank < LOCK_RANK_LIMIT, `lock ${entry.name}: rank ${entry.rank} out of range`);
  assert(entry.guards.length > 0 && entry.takenBy.length > 0, `lock ${entry.name}: guards/takenBy empty`);
  for (const race of entry.seedRaces) {
    assert(Number.isInteger(race) && race >= 1 && race <= SEED_RACE_COUNT, `lock ${entry.name}: bad seed race ${race}`);
  }
}

function assertTableValid(table: readonly LockTableEntry[]): void {
  const names = new Set(table.map((entry) => entry.name));
  const ranks = new Set(table.map((entry) => entry.rank));
  assert(names.size === table.length, 'lock table: names are not unique');
  assert(ranks.size === table.length, 'lock table: ranks are not unique');
  table.forEach(assertEntryValid);
  for (let index = 1; index < table.length; index += 1) {
    const previous = table[index - 1];
    const current = table[index];
    assert(previous !== undefined && current !== undefined, 'lock table: hole');
    assert(previous.rank < current.rank, `lock table: ${current.name} is out of rank order`);
  }
}

assertTableValid(LOCK_TABLE);
