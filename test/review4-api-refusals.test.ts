/**
 * Refusals a user meets outside the hot paths, each a typed error with a stable code
 * (README, Errors: "Every error the store throws on purpose has a stable code") and
 * nothing changed:
 * - store.backup(store.directory): InvalidOptionError 'targetDirectory' naming it (it was
 *   AssertionFailedError, "a bug, please report it", then BackupError 'target-not-empty'
 *   as for any other non-empty directory, until api-backup-nested-paths); a
 *   backup inside the store directory: InvalidOptionError (one in runs/ succeeded, and
 *   every later open failed with EISDIR removing it as an orphan run);
 * - restoreBackup into a path that is a file: IoError LADYBUG_IO (a raw ENOTDIR error
 *   without a code), InvalidOptionError 'targetDirectory' since api-backup-not-directory; restoreBackup / verifyBackup with a bad argument: a rejected
 *   InvalidOptionError (a TypeError without a code, thrown instead of rejected);
 * - lease methods: unknown option names are refused (a typo such as `wait` for
 *   `waitMs` was ignored: the acquire gave up at once), options that are not an object
 *   and a signal that is not an AbortSignal are InvalidOptionError (TypeErrors from
 *   reading a property of undefined, or calling throwIfAborted on it); the object
 *   acquire returned still works as renew's and release's options;
 * - a lease-bound write past 1,024 keys: InvalidOptionError (a RangeError without a code).
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, LeaseBusyError, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** The rejection of `call()`, which must reject rather than throw. */
async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    return { thrownSynchronously: error };
  }
  return promise.then(() => undefined, (error: unknown) => error);
}

describe('backup and restore refusals', () => {
  it("a backup into the store's own directory is refused (InvalidOptionError), and the store is unchanged", async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    const error = await rejection(() => store.backup(dir));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'targetDirectory' });
    expect(await store.get('a')).toBe(1);
    await store.close();
  });

  it('a backup inside the store directory is refused: one in runs/ made the store unopenable (EISDIR at every open)', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    for (const target of [join(dir, 'runs', 'backup'), join(dir, 'wal', 'backup'), join(dir, 'backup'), join(dir, 'manifest', '..', 'runs', 'b')]) {
      const error = await rejection(() => store.backup(target));
      expect(error, target).toBeInstanceOf(InvalidOptionError);
      expect(error, target).toMatchObject({ code: ErrorCode.InvalidOption, option: 'targetDirectory' });
    }
    expect((await store.backup(join(dir, '..', `${basename(dir)}-backup`))).version).toBe(1);
    await store.close();
    const reopened = await openStore(dir);
    expect(await reopened.get('a')).toBe(1);
    await reopened.close();
  });

  it('restore into a file, and bad arguments, are typed rejections', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    const backup = join(temporaryDirectory(), 'backup');
    await store.backup(backup);
    await store.close();
    const file = join(temporaryDirectory(), 'a-file');
    writeFileSync(file, 'not a directory');

    // Since test/api-backup-not-directory: refused as a bad argument before anything is done.
    const intoFile = await rejection(() => restoreBackup(backup, file));
    expect(intoFile).toBeInstanceOf(InvalidOptionError);
    expect(intoFile).toMatchObject({ code: ErrorCode.InvalidOption, option: 'targetDirectory' });

    for (const call of [
      () => restoreBackup('', join(temporaryDirectory(), 'target')),
      () => restoreBackup(backup, 5 as unknown as string),
      () => restoreBackup(backup, join(temporaryDirectory(), 'target'), { onProgres: () => undefined } as never),
      () => verifyBackup(undefined as unknown as string),
      () => verifyBackup(backup, { fileSytem: undefined } as never),
    ]) {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
    }
    expect((await verifyBackup(backup)).ok).toBe(true);
  });
});

describe('lease option refusals', () => {
  it('unknown names, a missing options object and a bad signal are InvalidOptionError; the acquire result still works as options', async () => {
    const store = await openStore(temporaryDirectory());
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    const refused: Array<[string, () => Promise<unknown>, string]> = [
      ['acquire with wait for waitMs', () => store.leases.acquire('job', { owner: 'b', ttlMs: 1000, wait: 5000 } as never), 'wait'],
      ['acquire without options', () => store.leases.acquire('job', undefined as never), 'options'],
      ['acquire with a signal that is not one', () => store.leases.acquire('job', { owner: 'b', ttlMs: 1000, signal: {} } as never), 'signal'],
      ['renew with ttl for ttlMs', () => store.leases.renew('job', { owner: 'a', token: lease.token, ttl: 5 } as never), 'ttl'],
      ['release with a typo', () => store.leases.release('job', { owner: 'a', tokn: lease.token } as never), 'tokn'],
      ['forceRelease with reasons', () => store.leases.forceRelease('job', { authorization: 1, reasons: 'x' } as never), 'reasons'],
      ['list with prefx', () => store.leases.list({ prefx: 'j' } as never), 'prefx'],
    ];
    for (const [what, call, option] of refused) {
      const error = await rejection(call);
      expect(error, what).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option, what).toBe(option);
    }
    // Nothing changed: the holder holds it, and a well-formed acquire still waits and fails as documented.
    expect(await store.leases.get('job')).toMatchObject({ owner: 'a', token: lease.token });
    expect(await rejection(() => store.leases.acquire('job', { owner: 'b', ttlMs: 1000, waitMs: 1 }))).toBeInstanceOf(LeaseBusyError);
    await store.leases.renew('job', { ...lease, ttlMs: 30_000 });
    await store.leases.release('job', lease);
    expect(await store.leases.get('job')).toBeUndefined();
    await store.close();
  });

  it('a lease-bound write past 1,024 keys is InvalidOptionError and writes nothing', async () => {
    const store = await openStore(temporaryDirectory());
    const lease = await store.leases.acquire('many', { owner: 'a', ttlMs: 60_000 });
    const version = store.version;
    const operations = Array.from({ length: 1025 }, (_, index) => ({ type: 'put' as const, key: `bound-${index}`, value: index }));
    const error = await rejection(() => store.batch(operations, { lease }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'lease' });
    await store.batch(operations.slice(0, 1000), { lease });
    const more = await rejection(() => store.batch(operations.slice(1000), { lease }));
    expect(more).toMatchObject({ code: ErrorCode.InvalidOption, option: 'lease' });
    expect(store.version).toBe(version + 1);
    expect(await store.get('bound-1000')).toBeUndefined();
    await store.close();
  });
});
