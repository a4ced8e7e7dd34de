/**
 * A scrub that rebuilds a damaged run block from parity (a cold, packed run and a warm
 * one), and an open that rewrites a damaged manifest copy from its twin, crashed after
 * each of their file-system operations (a seeded sample) in each crash mode: the store
 * reopened on the rebooted machine answers every read of the model exactly (as-of reads,
 * history, scans), names every run file it holds, and a scrub then leaves nothing
 * unrecoverable and verify clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { leftovers, sweep, verifyProblems, widened } from './maintcrash-review-helpers.js';
import { blockBytePages, buildStore, openAndRead, STORE, type BuiltStore } from './review-runs-helpers.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false } as const;
let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

/** The image with one bit flipped in the first non-zero byte of `page` of `file`. */
function damaged(file: string, page: number): Map<string, Uint8Array> {
  const bytes = (built.image.get(file) as Uint8Array).slice();
  const offset = (blockBytePages(bytes).get(page) as number[])[0] as number;
  bytes[offset] = (bytes[offset] as number) ^ 0x10;
  return new Map(built.image).set(file, bytes);
}

async function checkRebooted(rebooted: FaultFileSystem): Promise<string[]> {
  const outcome = await openAndRead(rebooted, built);
  if (outcome.kind !== 'exact') return [outcome.kind === 'wrong' ? outcome.message : `CorruptionError ${outcome.error.message}`];
  const problems = (await leftovers(rebooted, STORE)).map((path) => `left ${path}`);
  const store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
  const report = await store.scrub();
  await store.close();
  if (report.unrecoverable.length > 0) problems.push(`scrub unrecoverable ${JSON.stringify(report.unrecoverable).slice(0, 300)}`);
  problems.push(...(await verifyProblems(rebooted, STORE)));
  return problems;
}

function scrubSweep(image: Map<string, Uint8Array>, seed: number) {
  return sweep<Store>({
    image, samples: 8, seed,
    prepare: (fileSystem) => openStore(STORE, { fileSystem, ...OPTIONS }),
    operate: async (store) => {
      const report = await store.scrub();
      expect(report.repaired.length).toBeGreaterThan(0);
      await store.close();
    },
    abandon: (store) => store[abandonStore](),
    check: checkRebooted,
  });
}

describe('a repair from parity crashed part-way', () => {
  it('a cold run block: the reopened store is exact and a scrub finishes the repair', async () => {
    const cold = built.runFiles.find((file) => (built.tiers.get(file) as number) >= 2) as string;
    const { crashes } = await scrubSweep(damaged(cold, 1), 3);
    expect(crashes).toBeGreaterThan(12);
  }, widened(60_000));

  it('a warm run block: the reopened store is exact and a scrub finishes the repair', async () => {
    const warm = built.runFiles.find((file) => built.tiers.get(file) === 0) as string;
    const { crashes } = await scrubSweep(damaged(warm, 0), 4);
    expect(crashes).toBeGreaterThan(12);
  }, widened(60_000));

  it('a manifest copy damaged while the store is open, rewritten by scrub: the reopened store is exact', async () => {
    for (const copy of ['.b']) {
      const { crashes } = await sweep<Store>({
        image: built.image, samples: 6, seed: 6, focus: (_operation, path) => path.includes('/manifest/'),
        prepare: async (fileSystem) => {
          const store = await openStore(STORE, { fileSystem, ...OPTIONS });
          const file = fileSystem.listPaths().find((path) => path.includes('/manifest/MANIFEST-') && path.endsWith(copy)) as string;
          fileSystem.flipBit(file, Math.floor((fileSystem.durableContent(file) as Uint8Array).length / 2), 2);
          return store;
        },
        operate: async (store) => {
          const report = await store.scrub();
          expect(report.repaired.some((found) => found.kind === 'manifest')).toBe(true);
          await store.close();
        },
        abandon: (store) => store[abandonStore](),
        check: checkRebooted,
      });
      expect(crashes).toBeGreaterThan(8);
    }
  }, widened(60_000));

  it('a damaged manifest copy rewritten at open: the reopened store is exact', async () => {
    for (const copy of ['.a']) {
      const file = built.manifestFiles.find((path) => path.endsWith(copy)) as string;
      const bytes = (built.image.get(file) as Uint8Array).slice();
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x04;
      const { crashes } = await sweep<{ fileSystem: FaultFileSystem; store?: Store }>({
        image: new Map(built.image).set(file, bytes), samples: 6, seed: 5,
        prepare: async (fileSystem) => ({ fileSystem }),
        operate: async (context) => {
          context.store = await openStore(STORE, { fileSystem: context.fileSystem, ...OPTIONS });
          await context.store.scrub();
          await context.store.close();
        },
        abandon: (context) => context.store?.[abandonStore](),
        check: checkRebooted,
      });
      expect(crashes).toBeGreaterThan(8);
    }
  }, widened(60_000));
});
