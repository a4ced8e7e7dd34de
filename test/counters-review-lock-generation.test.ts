/**
 * Lock generations past the twelve digits of their zero-padded names (docs/FORMAT.md,
 * "Lock file"): the generation after LOCK.999999999999 is LOCK.1000000000000. Every
 * reader of the names must see it, or a second opener finds no holder and two handles
 * write one store; and a holder of such a generation must still notice a takeover.
 */
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, StoreLockedError } from '../src/index.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { generationsIn, lockFileName, newBody, writeBody } from '../src/store/lock-file.js';
import { lockTakenOver } from '../src/store/lock-holder-check.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const LAST_TWELVE_DIGIT_GENERATION = 999_999_999_999;

function lockNames(directory: string): string[] {
  return readdirSync(directory).filter((name) => name.startsWith('LOCK.')).sort();
}

/** A store with one key whose only lock file is its released generation 999,999,999,999. */
async function storeAtLastTwelveDigitGeneration(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  await store.put('kept', 'value');
  await store.close();
  const [only] = lockNames(directory);
  renameSync(join(directory, only!), join(directory, lockFileName(LAST_TWELVE_DIGIT_GENERATION)));
  return directory;
}

describe('lock generations past twelve digits', () => {
  it('the holder of generation 1,000,000,000,000 keeps a second opener out', async () => {
    const directory = await storeAtLastTwelveDigitGeneration();
    const holder = await openStore(directory);
    expect(lockNames(directory)).toEqual(['LOCK.1000000000000']);
    const second = await openStore(directory).then(async (opened) => {
      await opened.close();
      return 'opened';
    }, (error: unknown) => error);
    expect(second).toBeInstanceOf(StoreLockedError);
    expect((second as StoreLockedError).code).toBe('LADYBUG_STORE_LOCKED');
    await holder.put('during', 1);
    await holder.close();
    const reopened = await openStore(directory);
    expect(lockNames(directory)).toEqual(['LOCK.1000000000001']);
    expect(await reopened.get('kept')).toBe('value');
    expect(await reopened.get('during')).toBe(1);
    await reopened.close();
  });

  it('generations are ordered by number across the width change', () => {
    expect(generationsIn(['LOCK.000000000007', 'LOCK.1000000000000', 'LOCK.999999999999', 'LOCK.0999999999999', 'LOCK.12'])).toEqual([
      7, LAST_TWELVE_DIGIT_GENERATION, 1_000_000_000_000,
    ]);
  });

  it('a holder of a thirteen-digit generation sees the next one as a takeover', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new NodeFileSystem();
    await writeBody(fileSystem, join(directory, lockFileName(LAST_TWELVE_DIGIT_GENERATION)), { ...newBody(), released: true }, false);
    const lock = await DirectoryLock.acquire(fileSystem, directory, { heartbeat: false });
    expect(lock.path).toBe(join(directory, 'LOCK.1000000000000'));
    expect(await lockTakenOver(fileSystem, lock.path)).toBe(false);
    await writeBody(fileSystem, join(directory, 'LOCK.1000000000001'), newBody(), false);
    expect(await lockTakenOver(fileSystem, lock.path)).toBe(true);
    lock.abandon();
  });
});
