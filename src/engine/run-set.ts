/**
 * The live runs, in install order, each opened lazily.
 *
 * A run listed in the manifest is opened (footer, index and filter read and
 * checked) the first time a read needs it, not at store open: a clean reopen of a
 * large store reads the manifest and nothing else. Two reads that need a run at
 * once share one open.
 *
 * Opening ahead: a read asks its runs one after another (newest first), and a point
 * read asks every run whose key span holds the key, so the first get after a reopen
 * opened them one by one, each open several file reads waiting on the last (23 runs
 * of a 1M-key store: the bulk of open + first get). When a read must open a run, the
 * run set starts opening, in the background, every other unopened live run that
 * same read will ask (the runs whose span holds the key), so their opens overlap on
 * the thread pool; a scan's first ask for a cursor starts the cursors of the other
 * runs whose span meets its range (RunSet#cursorsAhead; the lease restart scan at
 * open asks every run of a store of random binary keys). It opens no run the read
 * would not have opened, so laziness is unchanged; a failed open ahead is not
 * remembered (the read that needs the run opens it again, or shares the failing
 * open, and gets its CorruptionError).
 *
 * Invariants:
 * - `runs` is in install order (oldest first); their version ranges ascend and do
 *   not overlap (seed race 6: runs are installed in memtable order, asserted by
 *   `install`).
 * - The list is replaced, never mutated in place, so a read view that captured it
 *   keeps reading the same runs.
 * - `replace` (compaction) swaps adjacent runs for their merge in one synchronous
 *   step; the outputs cover a version range inside the union of the inputs', so
 *   the order above still holds. A replaced run's reader is closed only once no
 *   read view holds it (`viewCount` 0: views acquire the runs they capture and
 *   release them when collected, see read-view.ts); its file is unlinked at once
 *   and stays readable through the open reader.
 * - A closed handle never opens its file again: a read that was waiting on another
 *   run when the store closed gets StoreClosedError instead of a descriptor nothing closes.
 * - `move` (a trivial move) changes only the policy's tier of adjacent runs, never
 *   the array or a run.
 * - Built with `trustReservedEntryCounts: false`, no run listed at construction
 *   carries reservedEntryCount, so no read skips it for the reserved prefix.
 */
import { StoreClosedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { BlockCache } from '../run/block-cache.js';
import { KeyProbe } from '../run/bloom-filter.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import type { RunCursor } from '../run/run-cursor.js';
import { NO_RUN_ENTRIES, RunReader } from '../run/run-reader.js';
import type { RepairEvent, RunRepairCounters } from '../run/run-file.js';
import { assert } from '../util/assert.js';
import { runMayHoldKey, runMayHoldRange } from './merged-scan.js';

export interface RunSetConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  hash: Hash64;
  cache: BlockCache;
  /** Told once per block rebuilt from parity (the engine counts and logs it). */
  onRepair?: (event: RepairEvent) => void;
  /**
   * False: the reserved entry counts of the runs the set is built with (the manifest's)
   * are not trusted: the constructor drops the field from their descriptors, so every
   * such run may hold reserved keys (runMayHoldRange / runMayHoldKey answer as for a
   * descriptor from before manifest format 3). Runs installed later were counted by
   * this process's writer and keep theirs. Absent: trusted. (ladybug repair's opens.)
   */
  trustReservedEntryCounts?: boolean;
  /** Told after a run's reader opened (its resident index now counts in RunSet#memoryBytes: the engine resizes its caches). */
  onReaderOpened?: () => void;
}

export class RunHandle {
  readonly descriptor: RunDescriptor;
  /**
   * The run's tier as the compaction policy sees it: its descriptor level (the tier it
   * was written at) until a trivial move raises it (RunSet#move; src/compaction/trivial-move.ts).
   * In memory only: the file, the manifest and every read ignore it.
   */
  tier: number;
  /** The move that last raised the tier (its first input's run id): runs of one unit count once toward the fanout. */
  moveUnit: number | undefined;
  readonly #config: RunSetConfig;
  /** The set that made this handle: told when a read must open it (opening ahead). */
  readonly #set: RunSet | undefined;
  #opening: Promise<RunReader> | undefined;
  #reader: RunReader | undefined;
  #openRepairs: RepairEvent[] = [];
  /** A cursor started ahead for a scan's ask (see cursor()); taken by that ask, dropped by any other. */
  #ahead: { range: KeyRange; reverse: boolean; cursor: Promise<RunCursor> } | undefined;
  /** Read views holding this run (acquire/release); the file outlives every one of them. */
  #viewCount = 0;
  /** Set by RunSet#replace: called once the run is replaced and no view holds it. */
  #onUnused: (() => void) | undefined;
  /** Set by close(): the file is never opened again. */
  #closed = false;

  constructor(config: RunSetConfig, descriptor: RunDescriptor, reader?: RunReader, set?: RunSet) {
    this.#config = config;
    this.#set = set;
    this.descriptor = descriptor;
    this.tier = descriptor.level;
    this.moveUnit = undefined;
    this.#reader = reader;
  }

  /**
   * The reader, opening the run on first use. A failed open is retried by the next read.
   * Repairs made by the open (the index and filter it reads and checks) are kept in
   * openRepairs, for the scrub that opened the run to report (src/stripe/scrub.ts): each
   * open starts with none, so a failed open's repairs are not reported again by the next.
   */
  reader(): RunReader | Promise<RunReader> {
    if (this.#reader !== undefined) return this.#reader;
    if (this.#closed) return Promise.reject(new StoreClosedError(`read run ${this.descriptor.runId}`));
    if (this.#opening === undefined) this.#openRepairs = [];
    this.#opening ??= RunReader.open(this.#config.fileSystem, this.#config.runsDirectory, this.descriptor, this.#config.hash, this.#config.cache, {
      onRepair: (event) => {
        if (this.#reader === undefined) this.#openRepairs.push(event);
        this.#config.onRepair?.(event);
      },
    })
      .then((reader) => {
        this.#reader = reader;
        this.#config.onReaderOpened?.();
        return reader;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  /** What the open that made the reader repaired (empty while unopened, or when it found nothing). */
  get openRepairs(): readonly RepairEvent[] {
    return this.#openRepairs;
  }

  /** The open reader's repair counters (undefined while unopened). */
  get repairCounters(): Readonly<RunRepairCounters> | undefined {
    return this.#reader?.repairCounters;
  }

  /** Memory the open reader holds (index and filter), 0 while unopened. */
  get memoryBytes(): number {
    return this.#reader?.memoryBytes ?? 0;
  }

  get opened(): boolean {
    return this.#reader !== undefined;
  }

  /** True while an open is in flight. */
  get opening(): boolean {
    return this.#opening !== undefined;
  }

  /** Read views currently holding this run. */
  get viewCount(): number {
    return this.#viewCount;
  }

  /** A read view captured this run. */
  acquire(): void {
    this.#viewCount++;
  }

  /** A read view that captured this run is gone. */
  release(): void {
    assert(this.#viewCount > 0, `run ${this.descriptor.runId} released more often than acquired`);
    this.#viewCount--;
    if (this.#viewCount === 0) this.#fireUnused();
  }

  /** Marks the run replaced: `onUnused` runs once no view holds it (at once if none does). */
  retire(onUnused: () => void): void {
    assert(this.#onUnused === undefined, `run ${this.descriptor.runId} retired twice`);
    this.#onUnused = onUnused;
    if (this.#viewCount === 0) this.#fireUnused();
  }

  #fireUnused(): void {
    const onUnused = this.#onUnused;
    if (onUnused === undefined) return;
    this.#onUnused = () => undefined; // fired once; a retired run is never acquired again
    onUnused();
  }

  /**
   * The key's entries in this run, newest first (NO_RUN_ENTRIES, shared, when the
   * filter or the key range rules it out: a point read asks every run, and most say no).
   * `untilVersion`, `untilCount`: stop early; `seekVersion`: skip blocks above it (RunPointLookup.pointVersions).
   */
  versionsOf(key: string, probe?: KeyProbe, untilVersion = -1, untilCount = 1, seekVersion = -1): readonly RunEntry[] | Promise<readonly RunEntry[]> {
    // The open reader checks the key range itself, and answers synchronously when its
    // filter rules the key out or the blocks are cached.
    const reader = this.#reader;
    if (reader !== undefined) return reader.pointVersions(key, probe, untilVersion, untilCount, seekVersion);
    if (!runMayHoldKey(key, this.descriptor)) return NO_RUN_ENTRIES;
    const opened = this.#versionsOnceOpen(key, probe, untilVersion, untilCount, seekVersion);
    this.#set?.openAhead((run) => runMayHoldKey(key, run.descriptor));
    return opened;
  }

  async #versionsOnceOpen(key: string, probe: KeyProbe | undefined, untilVersion: number, untilCount: number, seekVersion: number): Promise<readonly RunEntry[]> {
    const reader = await this.reader();
    return reader.pointVersions(key, probe, untilVersion, untilCount, seekVersion);
  }

  /** The key's probe for every run's filter (all runs of a set share the hash function): hashed once per point read. */
  probeOf(key: string): KeyProbe {
    return KeyProbe.of(this.#config.hash, key);
  }

  /**
   * A cursor over `range`; `fillCache: false` for whole-run passes (compaction) that
   * must not churn the cache. A scan (fillCache true) asks its runs for cursors one
   * after another: the first ask starts the cursors of the other live runs whose span
   * meets the same range object (RunSet#cursorsAhead), and their asks take them.
   */
  cursor(range: KeyRange, reverse: boolean, options: { fillCache?: boolean } = {}): Promise<RunCursor> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined) {
      if (ahead.range === range && ahead.reverse === reverse) return ahead.cursor;
      dropCursor(ahead.cursor);
    }
    // A whole-run pass (compaction) reads only the runs it names.
    if (options.fillCache !== false) this.#set?.cursorsAhead(this, range, reverse);
    return this.#openCursor(range, reverse, options);
  }

  async #openCursor(range: KeyRange, reverse: boolean, options: { fillCache?: boolean }): Promise<RunCursor> {
    const reader = await this.reader();
    return reader.cursor(range, reverse, options);
  }

  /** Starts a cursor over `range` for a scan's coming ask (RunSet#cursorsAhead); false when one is already waiting. */
  startCursorAhead(range: KeyRange, reverse: boolean): boolean {
    if (this.#ahead !== undefined) return false;
    const cursor = this.#openCursor(range, reverse, {});
    cursor.catch(() => undefined); // the ask that takes it gets the rejection
    this.#ahead = { range, reverse, cursor };
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#ahead !== undefined) dropCursor(this.#ahead.cursor);
    this.#ahead = undefined;
    const reader = this.#reader ?? (await this.#opening?.catch(() => undefined));
    this.#reader = undefined;
    await reader?.close();
    // A retired (compacted-away) run is never read again: its cached blocks and
    // partitions would hold budget until evicted. (At store close the cache goes too.)
    if (this.#onUnused !== undefined) this.#config.cache.dropRun(this.descriptor.runId);
  }
}

export class RunSet {
  readonly config: RunSetConfig;
  #runs: readonly RunHandle[] = [];
  #closed = false;

  constructor(config: RunSetConfig, descriptors: readonly RunDescriptor[]) {
    this.config = config;
    // The manifest appends a compaction's outputs after the newer runs: order by version.
    const ordered = descriptors.map((descriptor) => (config.trustReservedEntryCounts === false ? withoutReservedCount(descriptor) : descriptor))
      .sort((left, right) => left.minVersion - right.minVersion);
    this.#runs = ordered.map((descriptor) => new RunHandle(config, descriptor, undefined, this));
    assert(config.trustReservedEntryCounts !== false || this.#runs.every((run) => run.descriptor.reservedEntryCount === undefined), 'an untrusted reserved entry count kept');
    for (let index = 1; index < this.#runs.length; index++) {
      assert(this.#runs[index - 1]!.descriptor.maxVersion < this.#runs[index]!.descriptor.minVersion, 'runs overlap in versions');
    }
  }

  /**
   * Starts opening, in the background, every live run that is neither open nor
   * opening and that `wanted` selects (the runs the read that called will ask next;
   * see the module header). Nothing is awaited; a failed open is dropped here and
   * met again by the read that needs the run.
   */
  openAhead(wanted: (run: RunHandle) => boolean): void {
    if (this.#closed) return;
    for (const run of this.#runs) {
      if (run.opened || run.opening || !wanted(run)) continue;
      Promise.resolve(run.reader()).catch(() => undefined);
    }
  }

  /**
   * A scan asked `asking` for its cursor over `range` (the scan's own range object):
   * starts, in the background, the cursor over the same range of every other live run
   * that may hold a key of it (runMayHoldRange), so their reads (open, index partition,
   * first data block) overlap instead of running one after another; the scan's next asks take them
   * (RunHandle#cursor matches the range object). A run the scan then does not ask
   * (it skips runs newer than its version) keeps its cursor until its next ask or
   * close drops it.
   */
  cursorsAhead(asking: RunHandle, range: KeyRange, reverse: boolean): void {
    if (this.#closed) return;
    for (const run of this.#runs) {
      if (run === asking || !runMayHoldRange(range, run.descriptor)) continue;
      run.startCursorAhead(range, reverse);
    }
  }

  /** Live runs, oldest first. The array is never mutated: capture it freely. */
  get runs(): readonly RunHandle[] {
    return this.#runs;
  }

  /** Live runs newest first (a fresh array). */
  newestFirst(): RunHandle[] {
    return this.#runs.slice().reverse();
  }

  /** Adds a newly written run above every live one. Synchronous. */
  install(descriptor: RunDescriptor, reader?: RunReader): RunHandle {
    const newest = this.#runs.at(-1);
    assert(newest === undefined || newest.descriptor.maxVersion < descriptor.minVersion, `run ${descriptor.runId} installed out of version order`);
    const handle = new RunHandle(this.config, descriptor, reader, this);
    this.#runs = [...this.#runs, handle];
    return handle;
  }

  /**
   * Swaps `inputs` (adjacent live runs, oldest first) for `outputs` (their merge,
   * oldest first, possibly none) in one synchronous step: a new array, so captured
   * views keep their runs. Returns the output handles. The inputs are not closed or
   * deleted here: the caller retires them (RunHandle#retire).
   */
  replace(inputs: readonly RunHandle[], outputs: readonly RunDescriptor[]): RunHandle[] {
    assert(inputs.length > 0, 'replace needs at least one input run');
    const first = this.#runs.indexOf(inputs[0]!);
    assert(first >= 0, `run ${inputs[0]!.descriptor.runId} replaced but not live`);
    inputs.forEach((input, offset) => assert(this.#runs[first + offset] === input, `replaced runs are not adjacent at run ${input.descriptor.runId}`));
    const low = inputs[0]!.descriptor.minVersion;
    const high = inputs.at(-1)!.descriptor.maxVersion;
    for (let index = 0; index < outputs.length; index++) {
      const output = outputs[index]!;
      assert(output.minVersion >= low && output.maxVersion <= high, `run ${output.runId} covers versions outside its inputs`);
      assert(index === 0 || outputs[index - 1]!.maxVersion < output.minVersion, `run ${output.runId} overlaps the previous output`);
    }
    const handles = outputs.map((descriptor) => new RunHandle(this.config, descriptor, undefined, this));
    this.#runs = [...this.#runs.slice(0, first), ...handles, ...this.#runs.slice(first + inputs.length)];
    // Older views may still read the inputs until they close; their cached blocks and partitions go first meanwhile.
    for (const input of inputs) this.config.cache.retireRun(input.descriptor.runId);
    return handles;
  }

  /**
   * Undoes a replace whose manifest edit failed (a merge shown before its edit,
   * compaction-protocol.ts): `outputs` (what replace returned, still live at `first`)
   * give way to `inputs` again, the same handles (neither closed nor retired). Synchronous.
   */
  restore(first: number, outputs: readonly RunHandle[], inputs: readonly RunHandle[]): void {
    outputs.forEach((output, offset) => assert(this.#runs[first + offset] === output, `run ${output.descriptor.runId} restored but not live at ${first + offset}`));
    this.#runs = [...this.#runs.slice(0, first), ...inputs, ...this.#runs.slice(first + outputs.length)];
  }

  /**
   * A trivial move: `runs` (adjacent live runs, oldest first) stay as they are and rise
   * to `tier` as one move unit. Synchronous; the run array is not replaced (no read changes).
   */
  move(runs: readonly RunHandle[], tier: number): void {
    assert(runs.length > 0, 'a move needs at least one run');
    const first = this.#runs.indexOf(runs[0]!);
    assert(first >= 0, `run ${runs[0]!.descriptor.runId} moved but not live`);
    runs.forEach((run, offset) => {
      assert(this.#runs[first + offset] === run, `moved runs are not adjacent at run ${run.descriptor.runId}`);
      assert(run.tier < tier, `run ${run.descriptor.runId} moved to tier ${tier} from ${run.tier}`);
    });
    const unit = runs[0]!.descriptor.runId;
    for (const run of runs) {
      run.tier = tier;
      run.moveUnit = unit;
    }
  }

  get memoryBytes(): number {
    let total = 0;
    for (const run of this.#runs) total += run.memoryBytes;
    return total;
  }

  get fileBytes(): number {
    let total = 0;
    for (const run of this.#runs) total += run.descriptor.fileBytes;
    return total;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const run of this.#runs) await run.close();
  }
}

/** A copy of `descriptor` without reservedEntryCount (the manifest's object is left as it is). */
function withoutReservedCount(descriptor: RunDescriptor): RunDescriptor {
  const copy = { ...descriptor };
  delete copy.reservedEntryCount;
  return copy;
}

/** Closes a cursor started ahead that no scan took. */
function dropCursor(cursor: Promise<RunCursor>): void {
  cursor.then((dropped) => dropped.close(), () => undefined);
}
