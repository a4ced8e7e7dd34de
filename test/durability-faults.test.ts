/**
 * Injected faults: a failed fdatasync (fsyncgate), a full disk (on a WAL write and
 * while creating the next segment), a failed directory fsync, I/O errors at open,
 * the directory lock, and refused input. Each checks the typed error with its
 * stable code and what the store holds afterwards, including after a power loss.
 */
import { describe, expect, it } from 'vitest';
import {
  CommitOutcomeUnknownError,
  DiskFullError,
  ErrorCode,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  isLadybugError,
  StoreClosedError,
  StoreFailedError,
  StoreLockedError,
  ValueTooLargeError,
} from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { openOn, scanAll, segmentPath, settle, snapshot, STORE_DIR, WAL_DIR } from './workload.js';

const ANY_SEGMENT = /^\/db\/wal\/wal-\d{10}\.log$/;

/** Puts `count` keys `${prefix}0..` one after another; returns their versions. */
async function putSequentially(store: Store, prefix: string, count: number, valueBytes = 200): Promise<number[]> {
  const versions: number[] = [];
  for (let index = 0; index < count; index++) {
    versions.push((await store.put(`${prefix}${index}`, { index, pad: 'p'.repeat(valueBytes) })).version);
  }
  return versions;
}

/** Settles every promise; returns the outcomes in order. */
async function outcomes(promises: Array<Promise<{ version: number }>>): Promise<Array<PromiseSettledResult<{ version: number }>>> {
  return Promise.allSettled(promises);
}

function rejectionsOf(results: Array<PromiseSettledResult<unknown>>): unknown[] {
  return results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => result.reason);
}

function expectAllRejectedWith(results: Array<PromiseSettledResult<unknown>>, errorClass: new (...args: never[]) => Error, code: string): void {
  expect(results.every((result) => result.status === 'rejected')).toBe(true);
  for (const reason of rejectionsOf(results)) {
    expect(reason).toBeInstanceOf(errorClass);
    expect(reason).toMatchObject({ code });
  }
}

// ---------------------------------------------------------------------------

describe('failed fdatasync of the WAL (fsyncgate)', () => {
  it('fails the group and every later write, keeps reads and close working, and loses nothing acknowledged at power loss', async () => {
    const fileSystem = new FaultFileSystem(7);
    const store = await openOn(fileSystem);
    const ackedVersions = await putSequentially(store, 'acked-', 10);
    const before = await snapshot(store);

    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    const failedGroup = await outcomes([0, 1, 2, 3, 4].map((index) => store.put(`failed-${index}`, index)));
    // Their record was written, its fdatasync failed: outcome unknown (issue 13, defect 7).
    expectAllRejectedWith(failedGroup, CommitOutcomeUnknownError, ErrorCode.CommitOutcomeUnknown);

    // Every later write is refused the same way, without being tried.
    const walBytes = store.stats().walBytes;
    const later = await outcomes([store.put('later', 1), store.delete('acked-0'), store.batch([{ type: 'put', key: 'later-batch', value: 1 }])]);
    expectAllRejectedWith(later, StoreFailedError, ErrorCode.StoreFailed);
    expect(store.stats().walBytes).toBe(walBytes);
    expect(store.stats().failed).toBe(true);

    // Reads still answer exactly the acknowledged data.
    expect(await snapshot(store)).toEqual(before);
    expect(await store.get('acked-3')).toEqual({ index: 3, pad: 'p'.repeat(200) });
    expect(await store.get('failed-0')).toBeUndefined();
    expect(store.version).toBe(ackedVersions.at(-1));

    await store.close();
    expect(store.closed).toBe(true);

    // The failed record never reached the disk: after a power loss it is gone, and
    // everything acknowledged before it is there.
    const rebooted = fileSystem.crash('drop-unsynced');
    const reopened = await openOn(rebooted);
    expect(await snapshot(reopened)).toEqual(before);
    const { version } = await reopened.put('after', 1);
    expect(version).toBeGreaterThan(before.version);
    await reopened.close();
    const again = await openOn(rebooted);
    expect(await again.get('after')).toBe(1);
    expect((await scanAll(again)).size).toBe(before.entries.length + 1);
    await again.close();
  });

  it('a store reopened after a failed fdatasync (no power loss in between) keeps its later acknowledged writes through a power loss', async () => {
    // The failed record's bytes are still in the page cache but will never reach the
    // disk (a failed fsync is final). If recovery replays them and writing resumes
    // after them, the disk holds a hole of zeros in front of every later record.
    const fileSystem = new FaultFileSystem(8);
    const store = await openOn(fileSystem);
    await putSequentially(store, 'acked-', 5);
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    expectAllRejectedWith(await outcomes([store.put('failed-0', 0), store.put('failed-1', 1)]), CommitOutcomeUnknownError, ErrorCode.CommitOutcomeUnknown);
    await store.close();

    const reopened = await openOn(fileSystem);
    const acknowledgedAfterReopen = await putSequentially(reopened, 'after-reopen-', 3);
    expect(acknowledgedAfterReopen).toHaveLength(3);
    await reopened.close();

    const rebooted = fileSystem.crash('drop-unsynced');
    const afterPowerLoss = await openOn(rebooted);
    const content = await scanAll(afterPowerLoss);
    for (let index = 0; index < 5; index++) expect(content.has(`acked-${index}`)).toBe(true);
    for (let index = 0; index < 3; index++) {
      expect(content.get(`after-reopen-${index}`), `acknowledged after-reopen-${index}`).toEqual({ index, pad: 'p'.repeat(200) });
    }
    expect(afterPowerLoss.version).toBeGreaterThanOrEqual(acknowledgedAfterReopen.at(-1)!);
    await afterPowerLoss.close();
  });
});

// ---------------------------------------------------------------------------

describe('disk full (ENOSPC)', () => {
  it('on a WAL write: that group is refused with DiskFullError, the store stays usable, reopen has exactly the acknowledged writes', async () => {
    const fileSystem = new FaultFileSystem(9);
    const store = await openOn(fileSystem);
    const acked = new Map<string, unknown>();
    const ackedVersions: number[] = [];
    for (const [key, version] of (await putSequentially(store, 'a-', 4)).entries()) {
      acked.set(`a-${key}`, { index: key, pad: 'p'.repeat(200) });
      ackedVersions.push(version);
    }

    fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: segmentPath(1) });
    const refused = await outcomes([store.put('full-0', 0), store.put('full-1', 1), store.batch([{ type: 'put', key: 'full-2', value: 2 }])]);
    expectAllRejectedWith(refused, DiskFullError, ErrorCode.DiskFull);
    expect(store.stats().failed).toBe(false);
    expect(await store.get('full-0')).toBeUndefined();

    // Space is back: the next writes succeed, with versions above every earlier one.
    const next = await store.put('b-0', 'after');
    acked.set('b-0', 'after');
    expect(next.version).toBeGreaterThan(Math.max(...ackedVersions));
    const batch = await store.batch([{ type: 'put', key: 'b-1', value: 1 }, { type: 'del', key: 'a-0' }]);
    acked.set('b-1', 1);
    acked.delete('a-0');
    expect(batch.version).toBeGreaterThan(next.version);
    expect(await scanAll(store)).toEqual(acked);
    const version = store.version;
    await store.close();

    const reopened = await openOn(fileSystem);
    expect(await scanAll(reopened)).toEqual(acked);
    expect(reopened.version).toBe(version);
    expect(reopened.stats().recovery.tornTail).toBeUndefined();
    expect((await reopened.put('c', 1)).version).toBe(version + 1);
    await reopened.close();

    const afterPowerLoss = await openOn(fileSystem.crash('drop-unsynced'));
    expect(await scanAll(afterPowerLoss)).toEqual(new Map([...acked, ['c', 1]]));
    await afterPowerLoss.close();
  });

  it('while creating the next segment: the commit that needs it is refused with DiskFullError, and writing resumes once space is back', async () => {
    const fileSystem = new FaultFileSystem(10);
    const store = await openOn(fileSystem);
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: segmentPath(2), persistent: true });
    const acked = new Map<string, number>();
    let refusal: unknown;
    for (let index = 0; index < 40 && refusal === undefined; index++) {
      try {
        await store.put(`k-${index}`, index);
        acked.set(`k-${index}`, index);
        await store.put(`pad-${index}`, 'x'.repeat(900));
      } catch (error) {
        refusal = error;
      }
    }
    expect(refusal).toBeInstanceOf(DiskFullError);
    expect(refusal).toMatchObject({ code: ErrorCode.DiskFull });
    expect(store.stats().failed).toBe(false);
    expect(store.stats().walSegment).toBe(1);
    // Still full: refused again, not failed.
    await expect(store.put('still-full', 'x'.repeat(3000))).rejects.toMatchObject({ code: ErrorCode.DiskFull });

    fault.remove();
    const versionBefore = store.version;
    const { version } = await store.put('after-space', 'y'.repeat(3000));
    expect(version).toBeGreaterThan(versionBefore);
    expect(store.stats().walSegment).toBe(2);
    expect(await store.get('still-full')).toBeUndefined();
    await store.close();

    const reopened = await openOn(fileSystem.crash('drop-unsynced'));
    const content = await scanAll(reopened);
    for (const [key, value] of acked) expect(content.get(key)).toBe(value);
    expect(content.get('after-space')).toBe('y'.repeat(3000));
    expect(content.has('still-full')).toBe(false);
    expect(reopened.version).toBe(version);
    await reopened.close();
  });

  it('a full disk while the next segment is pre-created in the background does not refuse a commit made after space is back', async () => {
    // One ENOSPC, on the background pre-creation of segment 2 (it starts when
    // segment 1 is half full). By the time a commit needs segment 2 the disk has
    // space again, so no commit has met a full disk and none should be refused.
    const fileSystem = new FaultFileSystem(11);
    const store = await openOn(fileSystem);
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: segmentPath(2) });
    const refused: unknown[] = [];
    for (let index = 0; index < 30; index++) {
      await store.put(`k-${index}`, 'x'.repeat(900)).catch((error: unknown) => refused.push(error));
    }
    expect(fault.triggeredCount).toBe(1);
    expect(store.stats().walSegment).toBeGreaterThanOrEqual(2);
    expect(refused).toEqual([]);
    await store.close();
  });
});

// ---------------------------------------------------------------------------

describe('failed directory fsync while creating a segment', () => {
  it('never writes a record into a segment whose directory entry may not be durable', async () => {
    const fileSystem = new FaultFileSystem(12);
    const store = await openOn(fileSystem);
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: WAL_DIR });
    const acked = new Map<string, string>();
    const rejections: unknown[] = [];
    for (let index = 0; index < 40; index++) {
      const value = `${index}:${'x'.repeat(900)}`;
      try {
        await store.put(`k-${index}`, value);
        acked.set(`k-${index}`, value);
      } catch (error) {
        rejections.push(error);
      }
    }
    // The segment could not be made durable: the commits that needed it are refused
    // (the store fails: EIO is not a full disk), none is acknowledged into it.
    expect(rejections.length).toBeGreaterThan(0);
    for (const error of rejections) expect(error).toMatchObject({ code: ErrorCode.StoreFailed });
    expect(store.stats().walSegment).toBe(1);
    expect(await scanAll(store)).toEqual(acked);
    await store.close();

    const rebooted = fileSystem.crash('drop-unsynced');
    const reopened = await openOn(rebooted);
    expect(await scanAll(reopened)).toEqual(acked);
    await reopened.put('after', 1);
    await reopened.close();
    const again = await openOn(rebooted.crash('drop-unsynced'));
    expect(await again.get('after')).toBe(1);
    expect((await scanAll(again)).size).toBe(acked.size + 1);
    await again.close();
  });
});

// ---------------------------------------------------------------------------

describe('I/O errors at open', () => {
  it('an EIO reading the WAL rejects the open with a typed IoError and leaves the store openable', async () => {
    const fileSystem = new FaultFileSystem(13);
    const store = await openOn(fileSystem);
    await putSequentially(store, 'k-', 3);
    await store.close();

    fileSystem.injectFault({ operation: 'readFile', error: 'EIO', path: ANY_SEGMENT });
    const error = await openOn(fileSystem).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);

    // The failed open released its lock and changed nothing.
    const reopened = await openOn(fileSystem);
    expect((await scanAll(reopened)).size).toBe(3);
    await reopened.close();

    // README: every error the store throws has a stable code; another I/O failure is LADYBUG_IO.
    expect(isLadybugError(error), `open failed with ${String(error)}`).toBe(true);
    expect(error).toMatchObject({ code: ErrorCode.Io });
  });

  it('an open that failed after linking its lock file does not leave the directory locked by this process', async () => {
    const fileSystem = new FaultFileSystem(14);
    // The lock file is written under a temporary name, linked into place, and the
    // temporary name removed: fail that removal.
    fileSystem.injectFault({ operation: 'unlink', error: 'EIO', path: /\/LOCK\.tmp-/ });
    await expect(openOn(fileSystem)).rejects.toThrow();

    const store = await openOn(fileSystem);
    await store.put('k', 1);
    await store.close();
  });
});

// ---------------------------------------------------------------------------

describe('directory lock', () => {
  it('a second open in the same process is refused with StoreLockedError naming this pid, until the first closes', async () => {
    const fileSystem = new FaultFileSystem(15);
    const first = await openOn(fileSystem);
    await first.put('k', 1);

    const error = await openOn(fileSystem).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect(error).toMatchObject({ code: ErrorCode.StoreLocked, holderPid: process.pid });
    expect((error as StoreLockedError).lockPath).toMatch(/^\/db\/LOCK\.\d{12}$/);
    // The refused open changed nothing: the first handle still works.
    expect((await first.put('k', 2)).version).toBe(2);

    await first.close();
    const second = await openOn(fileSystem);
    expect(await second.get('k')).toBe(2);
    await second.close();
  });

  it('a lock left by an abandoned handle (a dead process) is taken over, and the old handle is dead', async () => {
    const fileSystem = new FaultFileSystem(16);
    const dead = await openOn(fileSystem);
    await dead.put('k', 1);
    dead[abandonStore]();
    await expect(dead.put('k', 2)).rejects.toBeInstanceOf(StoreClosedError);

    const taker = await openOn(fileSystem);
    expect(await taker.get('k')).toBe(1);
    // Only the new generation remains.
    expect(fileSystem.listPaths().filter((path) => path.includes('/LOCK'))).toEqual(['/db/LOCK.000000000002']);
    await expect(openOn(fileSystem)).rejects.toMatchObject({ code: ErrorCode.StoreLocked, holderPid: process.pid });
    await taker.close();
  });

  it('a close whose lock release failed can be called again: close is idempotent, and the store reopens', async () => {
    const fileSystem = new FaultFileSystem(19);
    const store = await openOn(fileSystem);
    await store.put('k', 1);
    // Release rewrites the lock file as released (temporary file + rename): fail the rename.
    fileSystem.injectFault({ operation: 'rename', error: 'EIO', path: /\/LOCK\./ });
    await expect(store.close()).rejects.toThrow();
    expect(store.closed).toBe(true);
    await expect(store.close()).resolves.toBeUndefined();

    const reopened = await openOn(fileSystem);
    expect(await reopened.get('k')).toBe(1);
    await reopened.close();
  });
});

// ---------------------------------------------------------------------------

describe('refused input changes nothing', () => {
  async function storeWithContent(): Promise<{ fileSystem: FaultFileSystem; store: Store }> {
    const fileSystem = new FaultFileSystem(17);
    const store = await openOn(fileSystem);
    await store.put('a', { n: 1 });
    await store.put('b', 'two');
    await store.batch([{ type: 'put', key: 'c', value: [3] }, { type: 'del', key: 'b' }]);
    await settle();
    return { fileSystem, store };
  }

  interface Refusal {
    name: string;
    call: (store: Store) => Promise<unknown>;
    errorClass: new (...args: never[]) => Error;
    code: string;
    extra?: Record<string, unknown>;
  }

  const oversized = 'v'.repeat(5000);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;

  const refusals: Refusal[] = [
    { name: 'empty key', call: (s) => s.put('', 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'empty' } },
    { name: 'key of 1025 ASCII bytes', call: (s) => s.put('k'.repeat(1025), 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'too-long' } },
    { name: 'key of 1025 UTF-8 bytes', call: (s) => s.put(`${'é'.repeat(512)}a`, 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'too-long' } },
    { name: 'binary key of 1025 bytes', call: (s) => s.put(new Uint8Array(1025).fill(1), 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'too-long' } },
    { name: 'number key', call: (s) => s.put(42 as unknown as string, 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'type' } },
    { name: 'lone-surrogate key', call: (s) => s.put('a\uD800b', 1), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey, extra: { reason: 'malformed' } },
    { name: 'empty key on delete', call: (s) => s.delete(''), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey },
    { name: 'undefined value', call: (s) => s.put('a', undefined), errorClass: InvalidValueError, code: ErrorCode.InvalidValue },
    { name: 'function value', call: (s) => s.put('a', () => 1), errorClass: InvalidValueError, code: ErrorCode.InvalidValue },
    { name: 'symbol value', call: (s) => s.put('a', Symbol('s')), errorClass: InvalidValueError, code: ErrorCode.InvalidValue },
    { name: 'cyclic value', call: (s) => s.put('a', cyclic), errorClass: InvalidValueError, code: ErrorCode.InvalidValue },
    { name: 'oversized value', call: (s) => s.put('a', oversized), errorClass: ValueTooLargeError, code: ErrorCode.ValueTooLarge, extra: { maxBytes: 4096 } },
    {
      name: 'batch with a bad key in the middle',
      call: (s) => s.batch([{ type: 'put', key: 'x', value: 1 }, { type: 'put', key: '', value: 2 }, { type: 'del', key: 'a' }]),
      errorClass: InvalidKeyError,
      code: ErrorCode.InvalidKey,
    },
    {
      name: 'batch with an undefined value in the middle',
      call: (s) => s.batch([{ type: 'del', key: 'a' }, { type: 'put', key: 'y', value: undefined }, { type: 'put', key: 'z', value: 3 }]),
      errorClass: InvalidValueError,
      code: ErrorCode.InvalidValue,
    },
    {
      name: 'batch with an oversized value in the middle',
      call: (s) => s.batch([{ type: 'put', key: 'x', value: 1 }, { type: 'put', key: 'y', value: oversized }, { type: 'put', key: 'z', value: 3 }]),
      errorClass: ValueTooLargeError,
      code: ErrorCode.ValueTooLarge,
    },
    {
      name: 'batch with an unknown operation type in the middle',
      call: (s) => s.batch([{ type: 'put', key: 'x', value: 1 }, { type: 'upsert', key: 'y', value: 2 } as never, { type: 'del', key: 'a' }]),
      errorClass: InvalidOptionError,
      code: ErrorCode.InvalidOption,
    },
    { name: 'batch that is not an array', call: (s) => s.batch({ type: 'put', key: 'x', value: 1 } as never), errorClass: InvalidOptionError, code: ErrorCode.InvalidOption },
    { name: 'get with an empty key', call: (s) => s.get(''), errorClass: InvalidKeyError, code: ErrorCode.InvalidKey },
    { name: 'get as of a future version', call: (s) => s.get('a', { asOf: 99 }), errorClass: InvalidOptionError, code: ErrorCode.InvalidOption, extra: { option: 'asOf' } },
  ];

  for (const refusal of refusals) {
    it(`${refusal.name}: ${refusal.errorClass.name} (${refusal.code}), content unchanged`, async () => {
      const { fileSystem, store } = await storeWithContent();
      const before = await snapshot(store);
      const walBytes = store.stats().walBytes;
      const error = await refusal.call(store).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(refusal.errorClass);
      expect(error).toMatchObject({ code: refusal.code, ...refusal.extra });
      expect(await snapshot(store)).toEqual(before);
      expect(store.stats().walBytes).toBe(walBytes);
      // The store keeps working and the next write gets the next version.
      expect((await store.put('after', 1)).version).toBe(before.version + 1);
      await store.close();
      const reopened = await openOn(fileSystem);
      const entries = [...before.entries, ['after', 1] as [string, unknown]].sort(([left], [right]) => (left < right ? -1 : 1));
      expect(await snapshot(reopened)).toEqual({ version: before.version + 1, entries });
      await reopened.close();
    });
  }

  it('scan with bad bounds or limit throws InvalidOptionError synchronously', async () => {
    const { store } = await storeWithContent();
    expect(() => store.scan({ limit: -1 })).toThrow(InvalidOptionError);
    expect(() => store.scan({ gt: 'a', gte: 'a' })).toThrow(InvalidOptionError);
    expect(() => store.scan({ gt: '' })).toThrow(InvalidKeyError);
    await store.close();
  });

  const badOptions: Array<{ name: string; options: Record<string, unknown>; option: string }> = [
    { name: 'unknown option', options: { segmentSize: 16384 }, option: 'segmentSize' },
    { name: 'segmentSizeBytes as a string', options: { segmentSizeBytes: '16384' }, option: 'segmentSizeBytes' },
    { name: 'segmentSizeBytes below the minimum', options: { segmentSizeBytes: 1024 }, option: 'segmentSizeBytes' },
    { name: 'fractional maxValueBytes', options: { maxValueBytes: 2048.5 }, option: 'maxValueBytes' },
    { name: 'maxValueBytes that does not fit a segment', options: { maxValueBytes: 16 * 1024 }, option: 'maxValueBytes' },
    { name: 'maxVersionsPerKey of 0', options: { maxVersionsPerKey: 0 }, option: 'maxVersionsPerKey' },
    { name: 'unknown keyEncoding', options: { keyEncoding: 'hex' }, option: 'keyEncoding' },
    { name: 'repair as a string', options: { repair: 'yes' }, option: 'repair' },
    { name: 'debug as a number', options: { debug: 1 }, option: 'debug' },
    { name: 'unknown syncMode', options: { syncMode: 'fast' }, option: 'syncMode' },
  ];

  for (const bad of badOptions) {
    it(`openStore with ${bad.name}: InvalidOptionError naming ${bad.option}, nothing touched`, async () => {
      const { fileSystem, store } = await storeWithContent();
      const before = await snapshot(store);
      const paths = fileSystem.listPaths();
      const operations = fileSystem.operationCount;
      const error = await openStore(STORE_DIR, { fileSystem, segmentSizeBytes: 16 * 1024, maxValueBytes: 4096, ...bad.options }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: bad.option });
      // Refused before any file-system call: no lock taken, no file created.
      expect(fileSystem.operationCount).toBe(operations);
      expect(fileSystem.listPaths()).toEqual(paths);
      expect(await snapshot(store)).toEqual(before);
      await store.close();
    });
  }

  it('openStore with a bad directory, options or file system: InvalidOptionError', async () => {
    const fileSystem = new FaultFileSystem(18);
    await expect(openStore('', { fileSystem })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'directory' });
    await expect(openStore(STORE_DIR, null as never)).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'options' });
    await expect(openStore(STORE_DIR, { fileSystem: {} as never })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'fileSystem' });
    expect(fileSystem.listPaths()).toEqual([]);
  });

  it('every method of a closed handle refuses with StoreClosedError, and close is idempotent', async () => {
    const { fileSystem, store } = await storeWithContent();
    const before = await snapshot(store);
    await store.close();
    for (const call of [
      () => store.put('x', 1),
      () => store.delete('a'),
      () => store.batch([{ type: 'put', key: 'x', value: 1 }]),
      () => store.get('a'),
      () => store.history('a'),
    ]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreClosedError);
      expect(error).toMatchObject({ code: ErrorCode.StoreClosed });
    }
    expect(() => store.scan()).toThrow(StoreClosedError);
    await store.close();
    const reopened = await openOn(fileSystem);
    expect(await snapshot(reopened)).toEqual(before);
    await reopened.close();
  });
});
