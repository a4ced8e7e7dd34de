/**
 * Review 8, watch: a feed the caller drops without ending it (no `break`, no
 * return(), the generator object just goes out of reach) must not hold the store
 * back. A feed catching up from history pins the version it catches up to, and
 * every feed is a subscriber of the store's hub (offered each commit); both were
 * let go only in the generator's `finally`, which never runs for a generator that
 * is collected while suspended at a `yield`. So one dropped catch-up feed kept its
 * pin for the life of the store (stats().oldestPinnedVersion stayed there and version
 * GC spared everything above it), and every dropped feed stayed subscribed. A scan
 * dropped the same way has released its pin when collected since its first version
 * (src/store/scan-iterator.ts); a feed now does too.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { collectAfterTurns } from './support/collect-garbage.js';


afterEach(() => removeTemporaryDirectories());

/** Collects until `done` holds (at most 20 rounds); answers whether it did. */
async function collectUntil(done: () => boolean): Promise<boolean> {
  for (let round = 0; round < 20 && !done(); round++) await collectAfterTurns(3, 1);
  return done();
}

describe('review8: a watch feed dropped without return()', () => {
  it('a feed dropped in its catch-up releases its pin when collected', async () => {
    const store = await openStore(temporaryDirectory(), { maxVersionsPerKey: 1 });
    try {
      for (let index = 0; index < 10; index++) await store.put(`k${index}`, index);
      await (async () => {
        const feed = store.watch({ sinceVersion: 0 });
        const first = await feed.next();
        expect(first.value).toMatchObject({ version: 1, key: 'k0' });
      })();
      expect(store.stats().oldestPinnedVersion).toBe(10);
      expect(await collectUntil(() => store.stats().oldestPinnedVersion === undefined)).toBe(true);
      // Version GC runs again: a key overwritten keeps one version.
      await store.put('k0', 'again');
      await expect(store.get('k0', { asOf: 1 })).rejects.toMatchObject({ code: 'LADYBUG_VERSION_NOT_RETAINED' });
    } finally {
      await store.close();
    }
  });

  it('a live feed dropped after a change lets go of its subscription and abort listener when collected', async () => {
    const store = await openStore(temporaryDirectory());
    const controller = new AbortController();
    try {
      await store.put('a', 0);
      await (async () => {
        const feed = store.watch({ signal: controller.signal });
        const pending = feed.next();
        await store.put('a', 1);
        await store.put('a', 2);
        expect((await pending).value).toMatchObject({ key: 'a', value: 1 });
      })();
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      expect(await collectUntil(() => getEventListeners(controller.signal, 'abort').length === 0)).toBe(true);
      // The store goes on; a new feed still gets every commit.
      const feed = store.watch({ signal: controller.signal });
      const next = feed.next();
      await store.put('b', 3);
      expect((await next).value).toMatchObject({ key: 'b', value: 3 });
      await feed.return();
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      await store.close();
    }
  });
});
