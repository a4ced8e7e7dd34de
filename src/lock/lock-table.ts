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
 *
 * Not every row is a mutex (`protection`): the memtables, the read pins and the
 * block cache are guarded by being synchronous (no `await` inside their sections,
 * so the event loop runs each one whole), the flush by being one task. Their rank
 * still says where they are entered relative to the mutexes (a seal runs inside
 * wal.writer's section; the flush takes manifest), and no code should build a mutex
 * for them: a second protection next to the real one would only hide which one
 * holds.
 */
import { assert } from '../util/assert.js';

export type LockName =
  | 'store.lifecycle'
  | 'lease.operations'
  | 'flush'
  | 'compaction'
  | 'manifest'
  | 'commit'
  | 'wal.writer'
  | 'readPins'
  | 'memtables'
  | 'stripe.parity'
  | 'blockCache';

/**
 * How a lock's critical section is enforced:
 * - 'mutex': an OrderedMutex of this name (checked against the order in debug mode);
 * - 'synchronous': no mutex. The section is synchronous code (no `await` inside), so
 *   the event loop runs it whole and nothing can interleave with it; the code
 *   asserts what it relies on at the end of the section;
 * - 'single task': no mutex. One async task owns the state (it is started only when
 *   none runs); everyone else waits for that task instead of entering.
 */
export type LockProtection = 'mutex' | 'synchronous' | 'single task';

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
  /** How the section is enforced (see LockProtection); a reserved entry says what is planned. */
  readonly protection: LockProtection;
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
  takenBy: 'close() (waits for in-flight commits, then checkpoints); checkpoint()',
  reserved: false,
  protection: 'mutex',
  seedRaces: [],
});

export const LEASE_OPERATIONS_LOCK = lockEntry({
  name: 'lease.operations',
  rank: 12,
  guards:
    "a store's lease records and the lease manager's in-memory holders: one lease operation (acquire, renew, " +
    'release, force release, expiry, bound-key write, the restart rule at open) at a time, so the token read back ' +
    'after an acquisition is the version of its own commit',
  takenBy:
    'every LeaseManager operation (src/lease/lease-manager.ts), across its whole store transaction (which takes commit); ' +
    'expiry timers start detached (runDetached), holding nothing else',
  reserved: false,
  protection: 'mutex',
  seedRaces: [],
});

export const FLUSH_LOCK = lockEntry({
  name: 'flush',
  rank: 14,
  guards:
    'the head of the flush queue: one sealed memtable at a time, oldest first, is written to a run, ' +
    'recorded in the manifest, then installed (run visible and memtable retired in one synchronous step, ' +
    're-checking at the moment of dropping that it is still the oldest)',
  takenBy:
    "the flusher's one drain task (Flusher#drain, across writeRun, the manifest edit and the install); " +
    'checkpoint and close wait for it instead of flushing themselves; no mutex: one task, asserted in Flusher#flushOne',
  reserved: false,
  protection: 'single task',
  seedRaces: [6, 8],
});

export const COMPACTION_LOCK = lockEntry({
  name: 'compaction',
  rank: 16,
  guards:
    'the choice of input runs (no run is an input of two compactions), the merge into output runs and their manifest ' +
    'edit (taken under manifest); inputs stay readable until no view holds them',
  takenBy:
    'the compactor (src/compaction/compactor.ts): each compaction is one task from its pick to its install, at most ' +
    'two at a time with disjoint inputs (a second only a shallow merge beside a deeper one, asserted in Compactor#run); ' +
    'compact() runs under store.lifecycle and waits for the running ones; no mutex: single task per compaction',
  reserved: false,
  protection: 'single task',
  seedRaces: [],
});

export const MANIFEST_LOCK = lockEntry({
  name: 'manifest',
  rank: 20,
  guards: "the manifest: edit append, the edit chain's length check and increment, the full rewrite",
  takenBy:
    'the flusher installing a run (under flush), a compaction installing its output (under compaction), checkpoint ' +
    "(the WAL start and version times), the retention floor, scrub's check of the two copies, open, close",
  reserved: false,
  protection: 'mutex',
  seedRaces: [9],
});

export const COMMIT_LOCK = lockEntry({
  name: 'commit',
  rank: 30,
  guards:
    'a transaction\'s conflict check, version assignment, the conflict log, and the order in which ' +
    'commit records are handed to the WAL',
  takenBy:
    'every write (put, delete, batch, transaction commit), for a synchronous critical section; ' +
    'store.transactionSync, whose body runs inside that section (held across disk reads only in its last-resort ' +
    'fallback, which takes no other lock); close()',
  reserved: false,
  protection: 'mutex',
  seedRaces: [2],
});

export const WAL_WRITER_LOCK = lockEntry({
  name: 'wal.writer',
  rank: 40,
  guards: 'the active WAL segment, its write offset, segment rotation, the next segment and the recycled pool',
  takenBy: "the group-commit flusher, across one write and one fdatasync, then the apply to the memtables; compact()'s release of the WAL's spare segments (`CommitPipeline#releaseSpareWalSegments`: the pool's unlinks and one directory fsync, never beside a rotation; test/wal-pool-release forces both interleavings)",
  reserved: false,
  protection: 'mutex',
  seedRaces: [1],
});

export const READ_PINS_LOCK = lockEntry({
  name: 'readPins',
  rank: 50,
  guards:
    'the read pins (versions that scans, snapshots and transactions read as of): the version read, ' +
    'the read view captured and the pin taken in one step',
  takenBy:
    'scan(), snapshot() and transaction begin (pin), their end (unpin), retention trimming on apply (oldest pin); ' +
    'no mutex: synchronous (no await inside). Compaction re-reads its version horizon under it (installUnlessPinned)',
  reserved: false,
  protection: 'synchronous',
  seedRaces: [7],
});

export const MEMTABLES_LOCK = lockEntry({
  name: 'memtables',
  rank: 60,
  guards:
    'the write buffer: the active memtable and the queue of sealed ones; a seal numbers the memtable and ' +
    'queues it in one step; the install removes only the oldest',
  takenBy:
    'apply after the WAL sync (under wal.writer), seal (full memtable, checkpoint), the flusher\'s install; ' +
    'no mutex: synchronous (no await inside), queue order asserted in Memtables#seal',
  reserved: false,
  protection: 'synchronous',
  seedRaces: [4],
});

export const STRIPE_PARITY_LOCK = lockEntry({
  name: 'stripe.parity',
  rank: 85,
  guards:
    "a stripe: its data pages and its parity page, computed from the pages in the writer's chunk and written with " +
    'them (whole stripes, no read-modify-write); a repair writes back only pages rebuilt from that parity',
  takenBy:
    "each run writer's StripedOutput (src/stripe/striped-output.ts: the flush's and the merges' runs, compressed or not), whose appends " +
    "wait for the chunk's write; no mutex: single task, a stripe has one writer",
  reserved: false,
  protection: 'single task',
  seedRaces: [5],
});

export const BLOCK_CACHE_LOCK = lockEntry({
  name: 'blockCache',
  rank: 120,
  guards: 'the block cache: one LRU structure; a touch (get) and an insert with its evictions (set) each one section, no duplicates; get and hold of the compressed tier (compressed-tier.ts lookup, hold) are synchronous parts of the same structure',
  takenBy:
    'every run read (get on a hit, set after a miss; two misses of one block keep the first copy), resizes, dropRun; ' +
    'no mutex: synchronous (no await inside)',
  reserved: false,
  protection: 'synchronous',
  seedRaces: [3],
});

/** Every lock, in ascending rank. */
export const LOCK_TABLE: readonly LockTableEntry[] = Object.freeze([
  STORE_LIFECYCLE_LOCK,
  LEASE_OPERATIONS_LOCK,
  FLUSH_LOCK,
  COMPACTION_LOCK,
  MANIFEST_LOCK,
  COMMIT_LOCK,
  WAL_WRITER_LOCK,
  READ_PINS_LOCK,
  MEMTABLES_LOCK,
  STRIPE_PARITY_LOCK,
  BLOCK_CACHE_LOCK,
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
