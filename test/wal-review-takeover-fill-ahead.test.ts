/**
 * Review (wal-review, 2026-12-04): the WAL's background zero fill after a takeover of
 * the directory lock. A group commit checks the lock's lease before its WAL write
 * (4fa50e5), but the zero fill ahead of the write position (zero-fill-ahead.ts) starts
 * after a record's fdatasync returns, with no check: an old holder whose fdatasync
 * (and heartbeat) stalled past the stale bound, taken over meanwhile, wrote zeros ahead
 * in the segment the new holder resumed writing in, over the new holder's acknowledged
 * records. After both crashed, the reopened store had lost them.
 *
 * The takeover is truthful, as in takeover-wal-lease.test.ts: the old holder's lock file
 * names another host (one process plays both holders), and the wall clock (Date only)
 * moves past the stale bound while the old holder's record fdatasync is held open.
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { LOCK_STALE_AFTER_MS, WAL_ZERO_FILL_AHEAD_BYTES } from '../src/limits.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { judgeByHeartbeat } from './support/lock-takeover.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const VALUE_BYTES = 100 * 1024;

/** Holds the next WAL segment datasync once armed; notes each datasync of a handle that wrote only zeros (a fill). */
class HoldingFileSystem extends ForwardingFileSystem<FileSystem> {
  armed = false;
  fillsSynced = 0;
  /** Of the newest segment written into: the end of its last record write and of its zero fill. */
  segment = '';
  readonly #ends = new Map<string, { recordEnd: number; filledEnd: number }>();

  get recordEnd(): number {
    return this.#ends.get(this.segment)?.recordEnd ?? 0;
  }

  get filledEnd(): number {
    return this.#ends.get(this.segment)?.filledEnd ?? 0;
  }
  /** Resolves when the held datasync is reached; `release` lets it through. */
  reached!: Promise<void>;
  #reach: () => void = () => undefined;
  release: () => void = () => undefined;

  arm(): void {
    this.armed = true;
    this.reached = new Promise<void>((resolve) => (this.#reach = resolve));
  }

  /** Creations of WAL segments wait for `release` (the stalled disk holds them too). */
  holdCreations = false;
  #releaseAll: () => void = () => undefined;
  readonly #released = new Promise<void>((resolve) => (this.#releaseAll = resolve));

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (this.holdCreations && mode === 'createExclusive' && /\/wal\/wal-\d+\.log$/.test(path)) await this.#released;
    return super.open(path, mode);
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!/\/wal\/wal-\d+\.log$/.test(path)) return handle;
    let wroteOnlyZeros: boolean | undefined;
    return replaceMethods(handle, {
      write: (data, position) => {
        const zeros = data.every((byte) => byte === 0);
        wroteOnlyZeros = (wroteOnlyZeros ?? true) && zeros;
        const ends = this.#ends.get(path) ?? { recordEnd: 0, filledEnd: 0 };
        this.#ends.set(path, ends);
        if (zeros) ends.filledEnd = Math.max(ends.filledEnd, position + data.length);
        else if (position > 0) {
          // A record (a header is written at 0): this is the segment being written into.
          ends.recordEnd = Math.max(ends.recordEnd, position + data.length);
          this.segment = path;
        }
        return handle.write(data, position);
      },
      datasync: async (mayBlock) => {
        if (this.armed && wroteOnlyZeros === false) {
          this.armed = false;
          const gate = new Promise<void>((resolve) => (this.release = () => { resolve(); this.#releaseAll(); }));
          this.#reach();
          await gate;
        }
        await handle.datasync(mayBlock);
        if (wroteOnlyZeros === true) this.fillsSynced++;
      },
    });
  }
}

const valueOf = (index: number): Buffer => Buffer.alloc(VALUE_BYTES, index % 251 + 1);

const stores: Store[] = [];
let holding: HoldingFileSystem | undefined;

afterEach(async () => {
  holding?.release();
  vi.useRealTimers();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

describe('the old holder after a takeover', () => {
  it('writes no zero fill over the records the new holder acknowledged in the segment both have open', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const directory = temporaryDirectory();
    holding = new HoldingFileSystem(new NodeFileSystem());
    const old = await openStore(directory, { fileSystem: holding, memoryBudgetBytes: 512 * 1024 * 1024 });
    stores.push(old);
    // Grow the segments until the active one is larger than its fill at creation: the fill then runs ahead in steps.
    let index = 0;
    while (holding.fillsSynced === 0) await old.put(`old${index}`, valueOf(index++));
    // From here the disk the old holder writes to stalls its segment creations (the next one's preparation).
    holding.holdCreations = true;
    // Then until the next record leaves less than a fill-ahead filled past it: a fill follows its fdatasync.
    while (holding.filledEnd - holding.recordEnd - VALUE_BYTES >= WAL_ZERO_FILL_AHEAD_BYTES) {
      await old.put(`old${index}`, valueOf(index++));
    }
    const oldKeys = index;

    // The old holder's next record is written; its fdatasync stalls (its heartbeat too) past the stale bound.
    holding.arm();
    const stalled = old.put('stalled', valueOf(7));
    await holding.reached;
    judgeByHeartbeat(directory);
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS + 1_000);
    const newHolder = await openStore(directory, { memoryBudgetBytes: 512 * 1024 * 1024 });
    stores.push(newHolder);
    // The new holder resumes in the same segment and acknowledges more than a fill-ahead's worth of records.
    const newKeys = Math.ceil((WAL_ZERO_FILL_AHEAD_BYTES + 2 * 1024 * 1024) / VALUE_BYTES);
    for (let key = 0; key < newKeys; key++) await newHolder.put(`new${key}`, valueOf(key));

    // The old holder's fdatasync returns; whatever it does next, it must not write into the new holder's log.
    const fillsBefore = holding.fillsSynced;
    holding.release();
    await stalled.catch(() => undefined);
    for (let turn = 0; turn < 50 && holding.fillsSynced === fillsBefore; turn++) await new Promise((resolve) => setTimeout(resolve, 10));

    old[abandonStore]();
    newHolder[abandonStore]();
    stores.length = 0;
    const reopened = await openStore(directory, { memoryBudgetBytes: 512 * 1024 * 1024 });
    stores.push(reopened);
    const missing: string[] = [];
    for (let key = 0; key < newKeys; key++) {
      const value = (await reopened.get(`new${key}`)) as Uint8Array | undefined;
      if (value === undefined || !Buffer.from(value).equals(valueOf(key))) missing.push(`new${key}`);
    }
    expect(missing, 'the new holder\'s acknowledged records').toEqual([]);
    for (let key = 0; key < oldKeys; key++) expect(await reopened.get(`old${key}`)).toBeDefined();
  }, 60_000);
});
