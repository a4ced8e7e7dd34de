/**
 * Every file-system call a backup (hard-linked and copied) or a restore makes in its target,
 * failed once in turn (EIO; ENOSPC for writes), on the fault file system: the call either
 * succeeds anyway (a read the run scrub rebuilds from parity) and the backup verifies ok, or
 * rejects with a typed error (LADYBUG_ code) and leaves no trace of the target (7fde92f,
 * 9de32df: before, the directories and files it made stayed and the retry was refused as
 * target-not-empty); the retry then succeeds. Every backup restores to the store's data,
 * and the store keeps answering.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, type FaultOperation } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup, type Store } from '../src/index.js';

const KEYS = 400;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'z'.repeat(40) });
const CALLS_MAX = 60;
const OPERATIONS: FaultOperation[] = ['read', 'write', 'datasync', 'link', 'rename', 'syncDirectory', 'open', 'mkdir', 'readdir'];

async function filledStore(fileSystem: FaultFileSystem): Promise<Store> {
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.checkpoint();
  for (let index = 0; index < 30; index++) await store.put(`m${index}`, index);
  return store;
}

async function expectRestored(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  const restored = await openStore(directory, { fileSystem });
  for (let index = 0; index < KEYS; index += 37) expect(await restored.get(keyOf(index))).toEqual(valueOf(index));
  expect(await restored.get('m29')).toBe(29);
  await restored.close();
}

/** Fails the nth call of `operation` under `target`; resolves with what happened ('clean' when the call was never made). */
async function withFault(fileSystem: FaultFileSystem, operation: FaultOperation, target: string, nth: number, work: () => Promise<unknown>): Promise<'clean' | 'ok' | 'failed'> {
  const fault = fileSystem.injectFault({ operation, error: operation === 'write' ? 'ENOSPC' : 'EIO', path: new RegExp(`^${target}(/|$)`), nth });
  let failure: unknown;
  try {
    await work();
  } catch (error) {
    failure = error;
  }
  fault.remove();
  if (fault.triggeredCount === 0) {
    expect(failure).toBeUndefined();
    return 'clean';
  }
  if (failure === undefined) return 'ok';
  expect((failure as { code?: unknown }).code, String(failure)).toMatch(/^LADYBUG_/);
  const left = fileSystem.listPaths().filter((path) => path.startsWith(`${target}/`));
  expect(await fileSystem.exists(target), `${operation} #${nth}: left ${target} (${left.join(', ')})`).toBe(false);
  return 'failed';
}

describe('a fault at each call of a backup or a restore', () => {
  for (const operation of OPERATIONS) {
    it(`${operation}: a typed failure leaves nothing and the retry succeeds, or the result is exact`, async () => {
      let failures = 0;
      for (const link of [true, false]) {
        for (let nth = 1; nth <= CALLS_MAX; nth++) {
          const fileSystem = new FaultFileSystem(nth);
          const store = await filledStore(fileSystem);
          const outcome = await withFault(fileSystem, operation, '/b', nth, () => store.backup('/b', { link }));
          if (outcome === 'clean') break;
          if (outcome === 'failed') {
            failures++;
            await store.backup('/b', { link });
          }
          const report = await verifyBackup('/b', { fileSystem });
          expect(report.ok, `${operation} #${nth}: ${JSON.stringify(report.problems)}`).toBe(true);
          expect(await store.get(keyOf(7))).toEqual(valueOf(7));
          await store.close();
          const restore = await withFault(fileSystem, operation, '/r', nth, () => restoreBackup('/b', '/r', { fileSystem }));
          if (restore === 'failed') await restoreBackup('/b', '/r', { fileSystem });
          await expectRestored(fileSystem, '/r');
        }
      }
      expect(failures).toBeGreaterThan(0);
    }, 60_000);
  }
});
