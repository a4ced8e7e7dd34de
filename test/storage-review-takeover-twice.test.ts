/**
 * A holder whose lock was taken over twice while it stalled (another process took it
 * over, closed, and a third opened) must still find out before it changes a name in the
 * directory. The lock check before a rename, link, unlink or exclusive create stats the
 * next generation's name (LOCK.<G+1>); the third opener's acquisition removes every lower
 * generation, that one included, so the check found nothing and let the old holder go on:
 * its compaction renamed its output over the live run of the same id (the second holder had
 * handed out the same id and installed it) and unlinked its inputs, which the third holder
 * lists as live: the third holder's reopen failed or lost committed keys.
 *
 * One process plays the three holders, as the takeover-* tests do (the first holder's
 * lock file rewritten as another host's that missed its heartbeats); no timing (the old
 * holder's heartbeat timer does not run within the test).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { makeLockStale } from './support/lock-takeover.js';

const stores: Store[] = [];

beforeEach(() => {
  vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

async function open(directory: string): Promise<Store> {
  const store = await openStore(directory);
  stores.push(store);
  return store;
}

describe('a holder taken over twice changes nothing in the directory', () => {
  it('the old holder\'s compaction neither replaces the live run of its output\'s id nor removes live inputs after a second opener took the lock', async () => {
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('first', 1);
    await old.checkpoint();
    await old.put('first2', 2);
    await old.checkpoint(); // two runs: the old holder's compaction merges them into the next run id
    makeLockStale(directory);
    const second = await open(directory);
    await second.put('second', 3);
    await second.checkpoint(); // the same run id as the old holder's merge output
    await second.close();
    const third = await open(directory); // takes the released lock, removing every lower generation
    expect(await third.get('second')).toBe(3);
    const compaction = await old.compact().then(() => 'resolved', (error: unknown) => error);
    expect(compaction, 'the old holder\'s compaction is refused').toBeInstanceOf(Error);
    await third.put('third', 4);
    await third.close();
    const reopened = await open(directory);
    expect(await reopened.get('first')).toBe(1);
    expect(await reopened.get('first2')).toBe(2);
    expect(await reopened.get('second')).toBe(3);
    expect(await reopened.get('third')).toBe(4);
  });
});
