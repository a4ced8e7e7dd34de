/**
 * A store whose versions reach VERSION_MAX (2^53-1, src/limits.ts) refuses every further
 * commit with VersionSpaceExhaustedError (LADYBUG_VERSION_SPACE_EXHAUSTED), not an
 * AssertionFailedError: the refused commit takes no version and is not written, the store
 * does not fail-stop (reads, snapshots, history, scans, checkpoints and close work), and a
 * reopen refuses the same way, with everything acknowledged read back; a backup
 * restores the same versions, so the restored store refuses too (the error says so). Puts, deletes,
 * batches, transactions and lease acquires alike. The store is brought near the limit by a manifest whose
 * versionHighWater is VERSION_MAX - 2, as a store that had committed that many versions
 * would record it.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { ErrorCode, openStore, restoreBackup, type Store, VersionSpaceExhaustedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { VERSION_MAX } from '../src/limits.js';
import { Manifest } from '../src/manifest/manifest.js';

const DIRECTORY = '/db';

const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

/** A store whose manifest says versions up to VERSION_MAX - 2 were handed out. */
async function storeNearTheLimit(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(DIRECTORY, { fileSystem });
  await store.put('first', 'at version 1');
  await store.checkpoint();
  await store.close();
  const manifest = await Manifest.open(fileSystem, DIRECTORY, await loadHash64(), { create: false });
  await manifest.apply({ versionHighWater: VERSION_MAX - 2 });
  await manifest.close();
  return fileSystem;
}

/** Every kind of write is refused with the typed error, and none takes a version. */
async function expectEveryWriteRefused(store: Store): Promise<void> {
  const writes: Array<[string, () => Promise<unknown>]> = [
    ['put', () => store.put('late', 1)],
    ['delete', () => store.delete('first')],
    ['batch', () => store.batch([{ type: 'put', key: 'late', value: 1 }, { type: 'del', key: 'first' }])],
    ['transaction', () => store.transaction(async (tx) => { tx.put('late', await tx.get('first')); })],
    ['snapshot transaction', () => store.transaction((tx) => { tx.put('late', 2); }, { isolation: 'snapshot' })],
    ['transactionSync', () => store.transactionSync((tx) => { tx.put('late', 3); })],
    ['lease acquire', () => store.leases.acquire('late-lease', { owner: 'me', ttlMs: 10_000 })],
  ];
  for (const [name, write] of writes) {
    const error = await errorOf(write());
    expect(error, name).toBeInstanceOf(VersionSpaceExhaustedError);
    expect(error, name).toMatchObject({ code: ErrorCode.VersionSpaceExhausted, lastVersion: VERSION_MAX });
    expect((error as Error).message, name).toMatch(/version space/);
    expect(store.stats().failed, name).toBe(false);
  }
}

describe('a store whose version space is used up', () => {
  it('commits up to VERSION_MAX, then refuses every write with a typed error and stays readable', async () => {
    const fileSystem = await storeNearTheLimit(7);
    const store = await openStore(DIRECTORY, { fileSystem });
    expect(store.version).toBe(VERSION_MAX - 2);
    const a = await store.put('a', 'one before the last');
    expect(a.version).toBe(VERSION_MAX - 1);
    const b = await store.batch([{ type: 'put', key: 'b', value: 'the last' }, { type: 'put', key: 'c', value: 'with it' }]);
    expect(b.version).toBe(VERSION_MAX);
    const snapshot = await store.snapshot();

    await expectEveryWriteRefused(store);

    // Nothing refused took a version or was written; reads, snapshots and history work.
    expect(store.version).toBe(VERSION_MAX);
    expect(await store.get('late')).toBeUndefined();
    expect(await store.get('first')).toBe('at version 1');
    expect(await store.get('a', { asOf: VERSION_MAX - 1 })).toBe('one before the last');
    expect(await snapshot.get('b')).toBe('the last');
    expect((await store.history('a')).map((entry) => entry.version)).toEqual([VERSION_MAX - 1]);
    const keys: string[] = [];
    for await (const [key] of store.scan()) keys.push(key as string);
    expect(keys).toEqual(['a', 'b', 'c', 'first']);
    await snapshot.release();
    await store.checkpoint();
    // A backup is taken, and restores the same versions: the restored store refuses too.
    await store.backup('/backup');
    expect(store.stats().failed).toBe(false);
    await store.close();
    await restoreBackup('/backup', '/restored', { fileSystem });
    const restored = await openStore('/restored', { fileSystem });
    expect(restored.version).toBe(VERSION_MAX);
    expect(await restored.get('c')).toBe('with it');
    await expectEveryWriteRefused(restored);
    await restored.close();

    // A reopen (also after a crash) holds everything acknowledged and refuses the same way.
    for (const mode of ['clean', 'crash'] as const) {
      const reopened = await openStore(DIRECTORY, { fileSystem: mode === 'clean' ? fileSystem : fileSystem.crash('drop-unsynced') });
      expect(reopened.version, mode).toBe(VERSION_MAX);
      expect(await reopened.get('b'), mode).toBe('the last');
      expect(await reopened.get('a'), mode).toBe('one before the last');
      await expectEveryWriteRefused(reopened);
      await reopened.close();
    }
  });

  it('a lease held at the last close does not make the reopen fail: its expiry cannot commit, the store opens and reads', async () => {
    const fileSystem = await storeNearTheLimit(9);
    const store = await openStore(DIRECTORY, { fileSystem });
    const lease = await store.leases.acquire('worker', { owner: 'me', ttlMs: 60_000 });
    expect(lease.token).toBe(VERSION_MAX - 1);
    await store.put('bound', 'under the lease', { lease: { name: 'worker', token: lease.token } });
    expect(store.version).toBe(VERSION_MAX);
    await store.close();
    for (const mode of ['clean', 'crash'] as const) {
      const reopened = await openStore(DIRECTORY, { fileSystem: mode === 'clean' ? fileSystem : fileSystem.crash('drop-unsynced') });
      expect(reopened.version, mode).toBe(VERSION_MAX);
      expect(await reopened.get('first'), mode).toBe('at version 1');
      // Nothing can commit the expiry: the lease's record and its bound key stay as they were.
      expect(await reopened.get('bound'), mode).toBe('under the lease');
      await expectEveryWriteRefused(reopened);
      await reopened.close();
    }
  });

  it('a refused commit is not in the WAL: a reopen without a checkpoint replays only the acknowledged ones', async () => {
    const fileSystem = await storeNearTheLimit(8);
    const store = await openStore(DIRECTORY, { fileSystem });
    await store.put('a', 1);
    await store.put('b', 2);
    await expectEveryWriteRefused(store);
    const crashed = fileSystem.crash('drop-unsynced');
    const reopened = await openStore(DIRECTORY, { fileSystem: crashed });
    expect(reopened.version).toBe(VERSION_MAX);
    expect(await reopened.get('a')).toBe(1);
    expect(await reopened.get('b')).toBe(2);
    expect(await reopened.get('late')).toBeUndefined();
    expect(await reopened.get('first')).toBe('at version 1');
    await expectEveryWriteRefused(reopened);
    await reopened.close();
  });
});
