/**
 * Running out of file descriptors (EMFILE: the process's limit; ENFILE: the system's) at a
 * flush or a merge. The open that fails writes nothing, so unlike a failed fsync it is safe
 * to retry: a flush that failed so is retried as after a full disk (a checkpoint, or the
 * flusher's own retry, writes the run later), up to FLUSH_DESCRIPTOR_RETRIES_MAX times in a
 * row, and only the next one fail-stops the store. A merge that failed so leaves its inputs
 * installed (as before) and the next compact() merges them. Either way the error a caller
 * sees is an IoError whose errno is EMFILE or ENFILE and whose message says what to do,
 * and nothing acknowledged is lost (each store reopened after a crash reads it all back).
 * Faults come from FaultFileSystem: the nth open of a run's temporary file fails.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, IoError, openStore, type Store, StoreFailedError } from '../src/index.js';
import { FLUSH_DESCRIPTOR_RETRIES_MAX } from '../src/engine/flusher.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const DIRECTORY = '/db';
const RUN_TEMPORARY = /\/runs\/[^/]*\.tmp$/;
const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

/** The typed error a user sees: IoError, the errno, and what to do. */
function expectDescriptorError(error: unknown, errno: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect(error).toMatchObject({ code: ErrorCode.Io, errno });
  const message = (error as Error).message;
  expect(message).toContain(errno);
  expect(message).toMatch(/too many open files/);
  expect(message).toMatch(/raise the limit \(ulimit -n/);
  expect(message).toMatch(/close stores/);
}

async function putRound(store: Store, written: Map<string, string>, round: number, count = 40): Promise<void> {
  for (let index = 0; index < count; index++) {
    const key = `key-${round}-${String(index).padStart(3, '0')}`;
    const value = `value ${round}/${index} ${'x'.repeat(index % 7 * 20)}`;
    await store.put(key, value);
    written.set(key, value);
  }
}

/** Every acknowledged key after a crash that drops what was not synced. */
async function expectAllAfterCrash(fileSystem: FaultFileSystem, written: Map<string, string>): Promise<void> {
  const crashed = fileSystem.crash('drop-unsynced');
  crashed.clearFaults();
  const reopened = await openStore(DIRECTORY, { fileSystem: crashed });
  for (const [key, value] of written) expect(await reopened.get(key), key).toBe(value);
  await reopened.close();
}

describe('a flush that finds no file descriptor free', () => {
  for (const errno of ['EMFILE', 'ENFILE']) {
    it(`${errno}: the checkpoint is refused with a typed error, the store stays writable, the retry writes the run`, async () => {
      const fileSystem = new FaultFileSystem(31);
      const store = await openStore(DIRECTORY, { fileSystem });
      const written = new Map<string, string>();
      await putRound(store, written, 0);
      const fault = fileSystem.injectFault({ operation: 'open', error: errno, path: RUN_TEMPORARY });
      expectDescriptorError(await errorOf(store.checkpoint()), errno);
      expect(fault.triggeredCount).toBe(1);
      expect(store.stats().failed).toBe(false);
      expect(store.stats().storage.runs).toBe(0);
      await putRound(store, written, 1);
      await store.checkpoint();
      // The memtable the failed flush left sealed and the one this checkpoint sealed.
      expect(store.stats().storage.runs).toBe(2);
      expect(store.stats().storage.flushes).toBe(2);
      for (const [key, value] of written) expect(await store.get(key), key).toBe(value);
      await store.close();
      await expectAllAfterCrash(fileSystem, written);
    });
  }

  it(`retried ${FLUSH_DESCRIPTOR_RETRIES_MAX} times in a row, then the store fails with it; a success in between starts the count again`, async () => {
    const fileSystem = new FaultFileSystem(32);
    const store = await openStore(DIRECTORY, { fileSystem });
    const written = new Map<string, string>();
    await putRound(store, written, 0);
    let fault = fileSystem.injectFault({ operation: 'open', error: 'EMFILE', path: RUN_TEMPORARY, persistent: true });
    for (let attempt = 1; attempt < FLUSH_DESCRIPTOR_RETRIES_MAX; attempt++) {
      expectDescriptorError(await errorOf(store.checkpoint()), 'EMFILE');
      expect(store.stats().failed, `attempt ${attempt}`).toBe(false);
    }
    fault.remove();
    await store.checkpoint(); // one success: the count starts again
    await putRound(store, written, 1);
    fault = fileSystem.injectFault({ operation: 'open', error: 'EMFILE', path: RUN_TEMPORARY, persistent: true });
    for (let attempt = 1; attempt <= FLUSH_DESCRIPTOR_RETRIES_MAX; attempt++) {
      expectDescriptorError(await errorOf(store.checkpoint()), 'EMFILE');
      expect(store.stats().failed, `attempt ${attempt}`).toBe(false);
      await store.put(`between-${attempt}`, attempt);
      written.set(`between-${attempt}`, attempt as unknown as string);
    }
    // One more in a row: final, the store fail-stops with the same typed error as its cause.
    expectDescriptorError(await errorOf(store.checkpoint()), 'EMFILE');
    expect(store.stats().failed).toBe(true);
    const refused = await errorOf(store.put('refused', 1));
    expect(refused).toBeInstanceOf(StoreFailedError);
    expect((refused as Error).message).toMatch(/EMFILE.*too many open files/);
    expect(fault.triggeredCount).toBe(FLUSH_DESCRIPTOR_RETRIES_MAX + 1);
    for (const [key, value] of written) expect(await store.get(key), key).toEqual(value);
    await store.close().catch(() => undefined);
    await expectAllAfterCrash(fileSystem, written);
  });
});

describe('a merge that finds no file descriptor free', () => {
  it('compact() is refused with the typed error, the inputs stay, the next compact() merges them', async () => {
    const fileSystem = new FaultFileSystem(33);
    const store = await openStore(DIRECTORY, { fileSystem });
    const written = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      await putRound(store, written, round);
      await store.checkpoint();
    }
    const runsBefore = store.stats().storage.runs;
    expect(runsBefore).toBeGreaterThan(1);
    const failuresBefore = store.stats().storage.compaction.failures;
    fileSystem.injectFault({ operation: 'open', error: 'EMFILE', path: RUN_TEMPORARY });
    expectDescriptorError(await errorOf(store.compact()), 'EMFILE');
    expect(store.stats().failed).toBe(false);
    expect(store.stats().storage.runs).toBe(runsBefore);
    expect(store.stats().storage.compaction.failures).toBe(failuresBefore + 1);
    await putRound(store, written, 3);
    await store.compact();
    expect(store.stats().storage.runs).toBe(1);
    for (const [key, value] of written) expect(await store.get(key), key).toBe(value);
    await store.close();
    await expectAllAfterCrash(fileSystem, written);
  });
});
