/**
 * After another process took a store's directory lock over, the old holder must not append
 * to the manifest. The new holder adopts the same manifest generation and appends its edits
 * at the end it read; an old holder whose heartbeat has not yet noticed the takeover
 * appended its own edit at its own end, the same offset, over the new holder's edit: a
 * checkpoint() with nothing to flush under retention by age (retainVersionsMs) records
 * the commit-time samples in an edit that changes no name first, so no lock confirmation
 * stopped it. That edit (a flush's run, the WAL start moved past the segments
 * its checkpoint then deleted) was gone from both copies: the reopen started the log at a
 * deleted segment and refused to open, or lost the new holder's checkpointed writes.
 *
 * The takeover is simulated in one process, as in takeover-thread-fence: the old holder's
 * lock file is rewritten as another host's that missed its heartbeats, and the second
 * handle takes it over. Real file system; no timing (the old holder's heartbeat timer does
 * not run within the test).
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
  const store = await openStore(directory, { retainVersionsMs: 60_000 });
  stores.push(store);
  return store;
}

describe('a holder taken over appends nothing to the manifest', () => {
  it('the old holder\'s checkpoint edit (version times) does not overwrite the new holder\'s checkpoint edit', async () => {
    const directory = temporaryDirectory();
    const old = await open(directory);
    for (let index = 0; index < 20; index++) await old.put(`old-${index}`, index);
    await old.checkpoint();
    // The new holder takes over, writes and checkpoints: its run and WAL start are one edit at the manifest's end.
    makeLockStale(directory);
    const newHolder = await open(directory);
    for (let index = 0; index < 20; index++) await newHolder.put(`new-${index}`, index);
    await newHolder.checkpoint();
    // The old holder, not yet told by its heartbeat, checkpoints (nothing to flush: the samples' edit only).
    const checkpoint = await old.checkpoint().then(() => 'resolved', (error: unknown) => error);
    expect(checkpoint, 'the old holder\'s checkpoint is refused').toBeInstanceOf(Error);
    // The new holder goes on and reopens with every key.
    expect(newHolder.stats().failed).toBe(false);
    await newHolder.put('after', 'still writable');
    await newHolder.close();
    await old.close().catch(() => undefined);
    const reopened = await open(directory);
    for (let index = 0; index < 20; index++) {
      expect(await reopened.get(`old-${index}`), `old-${index}`).toBe(index);
      expect(await reopened.get(`new-${index}`), `new-${index}`).toBe(index);
    }
    expect(await reopened.get('after')).toBe('still writable');
  });
});
