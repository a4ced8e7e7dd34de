/**
 * Every limit of the store as a named constant, with the relationships between
 * them asserted at load. Options that tune a limit are validated against these
 * bounds in src/store/options.ts.
 */
import { assert } from './util/assert.js';

/** Largest key, in UTF-8 bytes (or raw bytes for Uint8Array keys). */
export const KEY_BYTES_MAX = 1024;

/** Default and bounds of the largest encoded value. */
export const VALUE_BYTES_DEFAULT_MAX = 16 * 1024 * 1024;
export const VALUE_BYTES_MAX_MIN = 1024;

/**
 * Deepest nesting of containers (objects, arrays, Maps, Sets, Errors) in a value;
 * a flat object is depth 1. msgpackr packs and unpacks recursively, so a deeper
 * value could be acknowledged on a thread with a large stack and then fail to
 * decode on one with a smaller stack (at open, that is the key lost). Measured
 * with Node 20's default stack (about 984 KB) and msgpackr 2.1.3: unpack overflows
 * at about 1,850 nested Sets and 4,400 nested arrays or objects; pack at about
 * 700 nested Sets and 1,300 objects. 512 leaves a factor of 3.6 for decoding.
 */
export const VALUE_NESTING_DEPTH_MAX = 512;

/** Operations in one batch (one commit). */
export const BATCH_OPERATIONS_MAX = 100_000;

/** Operations buffered by one transaction (as for a batch). */
export const TRANSACTION_OPERATIONS_MAX = 100_000;

/** Leases one transaction may require (tx.requireLease, the fence and lease write options). */
export const TRANSACTION_FENCES_MAX = 64;

/**
 * Estimated bytes the conflict log may hold for open transactions before it forgets its
 * oldest visible commits; a transaction that read below them is refused at commit
 * (TransactionLimitError 'conflictLog'; src/transaction/conflict-log.ts).
 */
export const CONFLICT_LOG_BYTES_MAX = 64 * 1024 * 1024;

/** Default and largest lifetime of one transaction attempt, in milliseconds. */
export const TRANSACTION_LIFETIME_MS_DEFAULT = 60_000;
export const TRANSACTION_LIFETIME_MS_MAX = 3_600_000;

/** Default retries of a conflicting transaction, and the bound on the option. */
export const TRANSACTION_RETRIES_DEFAULT = 10;
export const TRANSACTION_RETRIES_MAX = 1000;

/**
 * Backoff between retries, after the winning commit is visible: base doubles per
 * attempt up to the cap, then jittered (x0.5..1.5), so contenders spread out.
 */
export const RETRY_BACKOFF_MS_BASE = 1;
export const RETRY_BACKOFF_MS_MAX = 100;

/**
 * store.transactionSync: rounds in which a body that needed a disk read is run again
 * after the read was awaited outside the commit lock (warming the caches). Past this,
 * the body runs holding the commit lock across its disk reads, which always ends.
 */
export const SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX = 3;

/** WAL segment size: default and bounds. Segments are preallocated to this size. */
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
export const SEGMENT_BYTES_MIN = 16 * 1024;
export const SEGMENT_BYTES_MAX = 1024 * 1024 * 1024;

/**
 * Size of a store's first WAL segment (capped by `segmentSizeBytes`): each new
 * segment doubles the previous one's size up to `segmentSizeBytes`, so a small
 * store stays small on disk. A commit larger than that always gets a segment big
 * enough for it (bounded by `segmentSizeBytes`, as every commit is).
 */
export const SEGMENT_BYTES_INITIAL = 64 * 1024;

/**
 * WAL zero fill (issue 12): a segment is sized with ftruncate at creation, and only
 * this much of it (from offset 0) is zero-filled and synced then (a segment no larger
 * is filled whole, before it is used, as all were before); the writer keeps at least
 * this many zero-filled, synced bytes ahead of its write position, filling
 * WAL_ZERO_FILL_STEP_BYTES at a time in the background, so a segment cut off early was
 * never zero-filled past its use. A step's writeback and block allocation land on the
 * one record fdatasync that overlaps it (same file: measured with perf, 56 of 5000):
 * steps of 1 MiB keep that under 1 commit in 250 with 4 KiB values.
 */
export const WAL_ZERO_FILL_AHEAD_BYTES = 4 * 1024 * 1024;
export const WAL_ZERO_FILL_STEP_BYTES = 1024 * 1024;

/**
 * WAL segment recycling (issue 12, WAL format 2): a segment covered by runs is renamed
 * into a pool of recycled files instead of being unlinked, and a later segment of the
 * same size is made from one (header rewritten), so its records overwrite blocks that
 * are allocated and written: no zero fill, and no second write of each record byte.
 * The pool keeps the newest covered segments, at most this many files and bytes;
 * older ones are unlinked. A store keeps no pool until its first checkpoint or flush.
 */
export const WAL_RECYCLED_SEGMENTS_MAX = 16;
export const WAL_RECYCLED_BYTES_MAX = 128 * 1024 * 1024;

/**
 * Memory budget (memtables, block cache, run index and filter blocks): default and
 * bounds. The minimum is small so tests can force flushes with a few hundred keys.
 */
export const MEMORY_BUDGET_BYTES_DEFAULT = 256 * 1024 * 1024;
export const MEMORY_BUDGET_BYTES_MIN = 256 * 1024;
export const MEMORY_BUDGET_BYTES_MAX = 64 * 1024 * 1024 * 1024;

/** WAL growth that triggers a background checkpoint: default and minimum. */
export const WAL_CHECKPOINT_BYTES_DEFAULT = 64 * 1024 * 1024;
export const WAL_CHECKPOINT_BYTES_MIN = 64 * 1024;

/** One group commit writes at most this many bytes (further commits wait for the next group). */
export const GROUP_COMMIT_BYTES_MAX = 8 * 1024 * 1024;
/**
 * The WAL writer's record encoding buffer: its first size, and the largest it keeps
 * after a record is written. A bigger record (a 100,000-operation batch encodes to
 * about 14 MiB) gets a buffer of its own, dropped once the write resolves, so one
 * bulk batch does not pin its size in memory for the life of the store.
 */
export const WAL_ENCODE_BUFFER_BYTES_INITIAL = 64 * 1024;
export const WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX = 1024 * 1024;

/** Versions are integers below 2^53; the store refuses to assign one above this. */
export const VERSION_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Directory lock heartbeat (src/store/directory-lock.ts): the holder rewrites its
 * lock file's `heartbeatAt` every interval; a lock whose holder's liveness cannot
 * be checked (another host or PID namespace) may be taken over once its heartbeat
 * is older than the stale bound. The bound spans several intervals, so a few late
 * or failed heartbeats never make a live holder look stale.
 */
export const LOCK_HEARTBEAT_INTERVAL_MS = 10_000;
export const LOCK_STALE_AFTER_MS = 60_000;
/**
 * Self-fencing by lease expiry (DirectoryLock#leaseExpired): a holder writes no WAL group
 * once its last written heartbeat is older than LOCK_STALE_AFTER_MS minus this margin,
 * until a heartbeat has run (renewing the lease, or finding a takeover). The margin
 * covers what the holder's clock and a taker's may disagree by, and the time a group's
 * write takes after the check: the holder stops acting well before any other process may
 * judge its heartbeat stale. Half the stale bound: a healthy holder renews every
 * LOCK_HEARTBEAT_INTERVAL_MS, far inside it.
 */
export const LOCK_SELF_FENCE_MARGIN_MS = LOCK_STALE_AFTER_MS / 2;

/**
 * Manifest (src/manifest/, docs/FORMAT.md "Manifest"). After MANIFEST_EDITS_MAX
 * appended edits, or when the edits would pass MANIFEST_EDIT_CHAIN_BYTES_MAX, the
 * next edit writes a full manifest and the chain restarts. One record (a full state
 * or one edit) is at most MANIFEST_RECORD_BYTES_MAX; a manifest file larger than
 * MANIFEST_BYTES_MAX is refused at open.
 */
export const MANIFEST_EDITS_MAX = 1024;
export const MANIFEST_EDIT_CHAIN_BYTES_MAX = 4 * 1024 * 1024;
export const MANIFEST_RECORD_BYTES_MAX = 16 * 1024 * 1024;
export const MANIFEST_BYTES_MAX = 32 * 1024 * 1024;

/**
 * Leases (src/lease/). A TTL is at most leaseTtlMsMax (default LEASE_TTL_MS_MAX_DEFAULT,
 * never above LEASE_TTL_MS_MAX_LIMIT, the largest setTimeout delay); a lease name is
 * 1..LEASE_NAME_BYTES_MAX bytes; an owner 1..LEASE_OWNER_BYTES_MAX; a lease binds at
 * most LEASE_BOUND_KEYS_MAX keys; at most LEASE_WAITERS_MAX acquires wait per name.
 */
export const LEASE_TTL_MS_MAX_DEFAULT = 24 * 60 * 60 * 1000;
export const LEASE_TTL_MS_MAX_LIMIT = 2 ** 31 - 1;
export const LEASE_NAME_BYTES_MAX = 256;
export const LEASE_OWNER_BYTES_MAX = 256;
export const LEASE_REASON_BYTES_MAX = 1024;
export const LEASE_BOUND_KEYS_MAX = 1024;
export const LEASE_WAITERS_MAX = 10_000;
/** An expiry whose commit failed (disk full, a conflict) is tried again after this delay, so bound keys never outlive the lease. */
export const LEASE_EXPIRY_RETRY_DELAY_MS = 250;

/**
 * Watch (src/watch/): changes buffered per watcher before WatchOverflowError, and
 * the changes one catch-up batch from history delivers (default and largest value of
 * the catchUpBatchChanges option; a batch holds at most that many values, its index pass
 * the changes without values: WATCH_CATCH_UP_INDEX_BYTES_MAX).
 */
export const WATCH_BUFFER_CHANGES_MAX = 10_000;
/** Watch: value bytes (memory estimate) a watcher buffers beyond its oldest buffered commit before WatchOverflowError. */
export const WATCH_BUFFER_BYTES_MAX = 64 * 1024 * 1024;
export const WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT = 4096;
export const WATCH_CATCH_UP_BATCH_CHANGES_MAX = 65_536;
/** Watch: value bytes (memory estimate) of one catch-up batch, whatever its count (at least one change). */
export const WATCH_CATCH_UP_BATCH_BYTES_MAX = 32 * 1024 * 1024;
/**
 * Watch: bytes (estimate: CATCH_UP_INDEX_ENTRY_BYTES and the key's length each, catch-up.ts)
 * of the changes one catch-up index pass keeps without their values, which the batches
 * then deliver with a read of their values; a pass holds about twice that before it cuts.
 */
export const WATCH_CATCH_UP_INDEX_BYTES_MAX = 32 * 1024 * 1024;
/** Backup: bytes read per step when copying or checksumming a file (src/backup/). */
export const BACKUP_CHUNK_BYTES = 1024 * 1024;
/** Backup: attempts before giving up when compaction keeps replacing the runs being linked. */
export const BACKUP_ATTEMPTS_MAX = 5;
/** Backup: the BACKUP.json file is refused above this size. */
export const BACKUP_MANIFEST_BYTES_MAX = 16 * 1024 * 1024;
/**
 * Compaction debt stalls writes (src/compaction/compactor.ts `backlogged`): above this
 * many live runs, while the policy has a merge to do, writes wait for compaction. A
 * tiered store in shape holds at most COMPACTION_FANOUT - 1 runs per tier (3 with a
 * fanout of 4), so 40 leaves room for about 12 tiers (flush size x 4^12) before a
 * store that is merely large stalls; past it, reads would check ever more runs.
 */
export const COMPACTION_STALL_RUNS = 40;
/**
 * Retention by age (retainVersionsMs, src/compaction/version-times.ts): the largest
 * setting (about 100 years), the most (version, commit time) samples kept (halved
 * when full: the floor only gets lower), and the shortest sampling interval.
 */
export const RETAIN_VERSIONS_MS_MAX = 100 * 365 * 24 * 60 * 60 * 1000;
export const VERSION_TIMES_MAX = 1024;
export const VERSION_TIMES_SAMPLE_MS_MIN = 1;

/*
 * Heap costs behind the memtable estimate in stats() (memory-index.ts, storedSizeBytes
 * in codec/value-memory-size.ts). Measured on Node 20, x64, no pointer compression (8-byte
 * fields), as V8 heap plus ArrayBuffer bytes after a forced GC, 200k keys per shape
 * (test/memory-budget.test.ts checks the estimate against the same measurement):
 * - a key with one version and a Smi value: 138 B with a 14-char key, of which the
 *   key string is 32 B: the rest (VersionChain object 48 B, Map entry with the
 *   table's slack about 37 B, the unordered-keys array slot about 10 B, tree and
 *   rounding) is MEMORY_BYTES_PER_KEY;
 * - a sequential string: 16 B header (map, hash, length) + 1 B (one-byte) or 2 B
 *   (two-byte) per char, rounded up to 8 B: 24 B for "v123456", 120 B for 100 chars;
 * - a heap number (a double, or an integer outside the 31-bit Smi range): 16 B;
 *   Smis, booleans and null: 0 B;
 * - an EncodedValue: the object (32 B) and its Buffer view (about 96 B), plus its
 *   bytes, word-aligned, inside msgpackr's shared 8 KiB output buffers, which start a
 *   new buffer when less than 2 KiB is left (that tail is lost): 269 B for a 100 B
 *   Uint8Array (104 B encoded), 1311 B for 1000 B; and once decoded (at put for
 *   everything but a top-level Uint8Array, at the first get for those) about 120 B
 *   more: msgpackr's unpack caches a DataView on its source as a `dataView`
 *   property (unpack.js), so the stored Buffer keeps one for life. The estimate
 *   counts it always (a never-read Uint8Array value is overcounted by that much);
 * - older versions live in two arrays per key, in a record (56 B: the creation
 *   version and trimmedBelow too) made at the second version: [x] literals (2 x 56 B)
 *   then, grown by V8 to 17 slots (2 x 184 B) at the third, 16 B per slot after. A
 *   key trimmed back to one version keeps only its creation version (no record).
 */
/** Per key, beyond its key string and its versions (see above). */
export const MEMORY_BYTES_PER_KEY = 106;
/** Per version beyond the first (the slots of the older-version arrays, with growth slack). */
export const MEMORY_BYTES_PER_VERSION = 24;
/** The two older-version arrays of a key with two versions, and with three (see above). */
export const MEMORY_BYTES_OLDER_ARRAYS_INITIAL = 168;
export const MEMORY_BYTES_OLDER_ARRAYS_GROWN = 424;
/** A V8 sequential string: header bytes, and the alignment of its size. */
export const MEMORY_BYTES_STRING_HEADER = 16;
export const MEMORY_BYTES_HEAP_ALIGNMENT = 8;
/** A heap number (double or out-of-Smi-range integer); a bigint adds 8 B per 64-bit digit. */
export const MEMORY_BYTES_HEAP_NUMBER = 16;
/** An EncodedValue object with its Buffer view and the DataView msgpackr caches on it, bytes not included. */
export const MEMORY_BYTES_ENCODED_VALUE = 248;
/**
 * A byte value (a Buffer or Uint8Array, encoded without msgpackr: codec/bytes-encoding.ts):
 * the EncodedValue object and its Buffer view, bytes not included; the bytes are a
 * slice of Node's 8 KiB allocation pool, 8-byte aligned. Measured by
 * test/memory-budget.test.ts ("bytes-100": heap grew 406 B/key in all, 100 B values).
 */
export const MEMORY_BYTES_BYTES_VALUE = 136;
/**
 * Value bytes kept at WAL replay are copied into shared slabs of this size (8-byte
 * aligned, a value over half a slab gets its own array), as the commit path's byte
 * values are carved from 64 KiB slabs (codec/value-slabs.ts, COMMIT_VALUE_SLAB_BYTES):
 * a value in either kind of slab is charged MEMORY_BYTES_SLAB_VALUE plus its share of
 * the slab, tail included (codec/value-memory-size.ts), and a replayed value no longer
 * makes an ArrayBuffer of its own (codec/value-slabs.ts, ValueSlabs).
 */
export const REPLAY_VALUE_SLAB_BYTES = 8 * 1024;
/** msgpackr's shared output buffer, and the tail below which it starts a new one. */
export const MEMORY_BYTES_PACK_BUFFER = 8192;
export const MEMORY_BYTES_PACK_BUFFER_TAIL = 2048;

/** Background scrub (src/stripe/background-scrub.ts): off unless scrubIntervalMs is set; the longest interval a timer takes. */
export const SCRUB_INTERVAL_MS_MAX = 2 ** 31 - 1;
/** Default read rate of a background scrub pass: a few percent of one disk's bandwidth. */
export const SCRUB_BYTES_PER_SECOND_DEFAULT = 32 * 1024 * 1024;

assert(MEMORY_BYTES_OLDER_ARRAYS_INITIAL < MEMORY_BYTES_OLDER_ARRAYS_GROWN, 'older-version arrays only grow');
assert(MEMORY_BYTES_PACK_BUFFER_TAIL < MEMORY_BYTES_PACK_BUFFER, 'a pack buffer holds values before its tail');
assert(WAL_ENCODE_BUFFER_BYTES_INITIAL <= WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX, 'the encode buffer keeps at least its first size');
assert(KEY_BYTES_MAX <= 0xffff, 'key length must fit the u16 length field of a WAL operation');
assert(VALUE_BYTES_DEFAULT_MAX < 2 ** 32, 'value length must fit the u32 length field of a WAL operation');
assert(SEGMENT_BYTES_DEFAULT >= 2 * VALUE_BYTES_DEFAULT_MAX, 'a default segment holds at least two maximal values');
assert(SEGMENT_BYTES_MIN < SEGMENT_BYTES_DEFAULT && SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX, 'segment bounds ordered');
assert(TRANSACTION_OPERATIONS_MAX <= BATCH_OPERATIONS_MAX, 'a transaction commits as one batch');
assert(RETRY_BACKOFF_MS_BASE <= RETRY_BACKOFF_MS_MAX, 'backoff bounds ordered');
assert(SEGMENT_BYTES_MAX < 2 ** 32, 'segment offsets must fit u32 record lengths');
assert(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_INITIAL && SEGMENT_BYTES_INITIAL <= SEGMENT_BYTES_DEFAULT, 'first segment size between the bounds');
assert(WAL_RECYCLED_SEGMENTS_MAX >= 1 && WAL_RECYCLED_BYTES_MAX >= SEGMENT_BYTES_INITIAL, 'the recycled pool holds at least one first segment');
assert(WAL_ZERO_FILL_STEP_BYTES <= WAL_ZERO_FILL_AHEAD_BYTES && WAL_ZERO_FILL_AHEAD_BYTES >= SEGMENT_BYTES_INITIAL, 'the zero fill runs ahead by whole steps and fills a first segment at creation');
assert(LOCK_STALE_AFTER_MS >= 3 * LOCK_HEARTBEAT_INTERVAL_MS, 'a lock is stale only after several missed heartbeats');
assert(
  LOCK_SELF_FENCE_MARGIN_MS > 0 && LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS >= 2 * LOCK_HEARTBEAT_INTERVAL_MS,
  'a holder fences itself before it may be judged stale, and a healthy one (a heartbeat per interval) never does',
);
assert(LEASE_TTL_MS_MAX_DEFAULT <= LEASE_TTL_MS_MAX_LIMIT, 'the default lease TTL bound fits a timer');
assert(WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT <= WATCH_CATCH_UP_BATCH_CHANGES_MAX, 'the default catch-up batch is allowed');
assert(
  MANIFEST_RECORD_BYTES_MAX + MANIFEST_EDIT_CHAIN_BYTES_MAX <= MANIFEST_BYTES_MAX,
  'a full manifest record plus a full edit chain fits the manifest size bound',
);
