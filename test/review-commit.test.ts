/**
 * Issue 13, the commit path and pins (defects 6, 7, 8 and the flusher that left
 * promises pending), each against a real store over the fault file system:
 * - 7: a commit whose record was written but whose fdatasync failed is reported as
 *   CommitOutcomeUnknownError (it can come back after a reopen), a commit never
 *   written as StoreFailedError (certain to be absent); transactions do not retry an
 *   unknown outcome; a request-id key makes the retry idempotent (README).
 * - 8: ReadPins with 200,000 distinct pinned versions (a spread Math.min threw).
 * - 6: directories created by open survive a power loss that drops unsynced entries.
 */
import { describe, expect, it } from 'vitest';
import { CommitOutcomeUnknownError, ErrorCode, StoreFailedError, type Transaction } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { ReadPins } from '../src/memory/read-pins.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { GatedFileSystem, settle, track } from './transaction-support.js';

const OPTIONS = { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 } as const;
const ANY_SEGMENT = /\/wal\/wal-\d{10}\.log$/;

describe('defect 7: a commit whose fdatasync failed has an unknown outcome', () => {
  it('the written commit is unknown (and may come back), the queued one failed (and never does)', async () => {
    const fault = new FaultFileSystem(71);
    const gated = new GatedFileSystem(fault);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    await store.put('a', 'A');
    gated.armed = true;
    const written = track(store.put('b', 'B'));
    const held = await gated.nextHeld();
    // 'b' is in the page cache, its fdatasync held; 'c' queues behind it, never written.
    const queued = track(store.put('c', 'C'));
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    held.release();
    await settle();

    expect(written.error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(written.error).toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 2 });
    expect((written.error as CommitOutcomeUnknownError).cause).toBeInstanceOf(StoreFailedError);
    expect(queued.error).toBeInstanceOf(StoreFailedError);
    expect(queued.error).toMatchObject({ code: ErrorCode.StoreFailed });
    expect(store.stats()).toMatchObject({ failed: true, version: 1 });
    await store.close();

    // Reopened without a power loss, recovery replays the page cache: 'b' is there.
    // That is why it must not be reported as failed. 'c' is absent.
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    expect(await reopened.get('b')).toBe('B');
    expect(await reopened.get('c')).toBeUndefined();
    expect(reopened.version).toBe(2);
    await reopened.close();
  });

  it('after a power loss instead, the unknown commit may be absent: both outcomes are possible', async () => {
    const fault = new FaultFileSystem(72);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('a', 'A');
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    await expect(store.put('b', 'B')).rejects.toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 2 });
    await store.close();
    const rebooted = await openStore('/db', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    expect(await rebooted.get('b')).toBeUndefined();
    expect(rebooted.version).toBe(1);
    await rebooted.close();
  });

  it('a write that throws after its bytes were handed over is unknown too', async () => {
    const fault = new FaultFileSystem(73);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('a', 'A');
    fault.injectFault({ operation: 'write', error: 'EIO', path: ANY_SEGMENT });
    await expect(store.put('b', 'B')).rejects.toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 2 });
    await expect(store.put('c', 'C')).rejects.toBeInstanceOf(StoreFailedError);
    await store.close();
  });

  it('a failure before the record was handed to write() (the next segment could not be made durable) is StoreFailedError', async () => {
    const fault = new FaultFileSystem(74);
    const store = await openStore('/db', { segmentSizeBytes: 16 * 1024, maxValueBytes: 4096, fileSystem: fault });
    // Every fdatasync of segment 2 fails: its background creation fails, and the commit
    // that needs it fails at rotation, before any byte of it is written.
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: /wal-0000000002\.log$/, persistent: true });
    fault.injectFault({ operation: 'sync', error: 'EIO', path: /wal-0000000002\.log$/, persistent: true });
    let failure: unknown;
    for (let index = 0; index < 100 && failure === undefined; index++) {
      await store.put(`k${index}`, 'x'.repeat(1000)).catch((error: unknown) => (failure = error));
    }
    expect(failure).toBeInstanceOf(StoreFailedError);
    expect(failure).not.toBeInstanceOf(CommitOutcomeUnknownError);
    await store.close();
  });

  it('a transaction does not retry an unknown outcome: its body runs once', async () => {
    const fault = new FaultFileSystem(75);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('balance', 100);
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    let attempts = 0;
    const outcome = store.transaction(async (tx) => {
      attempts++;
      tx.put('balance', ((await tx.get('balance')) as number) - 30);
    });
    await expect(outcome).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    expect(attempts).toBe(1);
    await store.close();
  });

  it('a request-id key written in the same transaction makes a retry after an unknown outcome idempotent (README)', async () => {
    /** Withdraws 30 once per request id: the README's "Retrying safely" pattern. */
    const withdraw = (store: Store, requestId: string) => store.transaction(async (tx: Transaction) => {
      if ((await tx.get(`request/${requestId}`)) !== undefined) return 'already applied';
      tx.put('balance', ((await tx.get('balance')) as number) - 30);
      tx.put(`request/${requestId}`, true);
      return 'applied';
    });
    const fault = new FaultFileSystem(76);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('balance', 100);
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    await expect(withdraw(store, 'r-1')).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    await store.close();
    // The process restarts (the page cache survives): the first attempt did land.
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    expect(await withdraw(reopened, 'r-1')).toBe('already applied');
    expect(await reopened.get('balance')).toBe(70);
    await reopened.close();
  });
});

describe('defect 8: pins are ordered, an unpin never throws', () => {
  it('200,000 distinct pinned versions: unpinning the oldest finds the next, in O(log n)', () => {
    const pins = new ReadPins();
    const distinct = 200_000;
    for (let version = 1; version <= distinct; version++) pins.pin(version);
    expect(pins.oldest()).toBe(1);
    expect(pins.count).toBe(distinct);
    // The old code recomputed the oldest with Math.min(...versions): RangeError here.
    pins.unpin(1);
    expect(pins.oldest()).toBe(2);
    for (let version = 2; version <= distinct; version++) {
      pins.unpin(version);
      expect(pins.oldest()).toBe(version === distinct ? Infinity : version + 1);
    }
    expect(pins.count).toBe(0);
    expect(pins.oldestAgeMs()).toBe(0);
  });

  it('matches a plain model under random pins and unpins, repeated versions included', () => {
    const random = new SeededRandom(8);
    const pins = new ReadPins();
    const model = new Map<number, number>();
    const held: number[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (held.length > 0 && random.chance(0.45)) {
        const [version] = held.splice(random.nextIntInclusive(0, held.length - 1), 1) as [number];
        pins.unpin(version);
        const count = model.get(version)! - 1;
        if (count === 0) model.delete(version);
        else model.set(version, count);
      } else {
        const version = random.nextIntInclusive(0, 499);
        pins.pin(version);
        held.push(version);
        model.set(version, (model.get(version) ?? 0) + 1);
      }
      expect(pins.oldest()).toBe(model.size === 0 ? Infinity : Math.min(...model.keys()));
      expect(pins.count).toBe(held.length);
    }
  });

  it('an unpin without a matching pin is a bug in the caller: an assertion, not silence', () => {
    const pins = new ReadPins();
    pins.pin(3);
    pins.unpin(3);
    expect(() => pins.unpin(3)).toThrow(/not pinned/);
  });
});

describe('defect 6: directories created by open survive a power loss', () => {
  it('a store opened at /a/b/c (none existing) keeps its directory and data after unsynced entries are dropped', async () => {
    const fault = new FaultFileSystem(61);
    const store = await openStore('/a/b/c', { ...OPTIONS, fileSystem: fault });
    await store.put('k', 'v');
    await store.close();
    const rebooted = fault.crash('drop-unsynced');
    for (const path of ['/a', '/a/b', '/a/b/c', '/a/b/c/wal']) expect(await rebooted.exists(path), path).toBe(true);
    const reopened = await openStore('/a/b/c', { ...OPTIONS, fileSystem: rebooted });
    expect(await reopened.get('k')).toBe('v');
    expect(reopened.version).toBe(1);
    await reopened.close();
  });

  it('an existing parent is left alone: only the missing levels are created', async () => {
    const fault = new FaultFileSystem(62);
    await fault.mkdir('/data');
    await fault.syncDirectory('/');
    const store = await openStore('/data/store', { ...OPTIONS, fileSystem: fault });
    await store.put('k', 1);
    await store.close();
    const reopened = await openStore('/data/store', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    expect(await reopened.get('k')).toBe(1);
    await reopened.close();
  });
});
