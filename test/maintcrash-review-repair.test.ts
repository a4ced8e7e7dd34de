/**
 * `ladybug repair` (open with repair: true not trusting reserved counts, scrub, close,
 * reserved-count check) of a store with a damaged WAL record part-way through its log
 * and a damaged run block, crashed after each of its file-system operations (a seeded
 * sample) in each crash mode, then run again in full on the rebooted machine. The store
 * then answers exactly what one uninterrupted repair gives: every commit before the
 * damage with its value at every as-of version, none after it, a new commit above every
 * dropped version; no run file left that the manifest does not name; verify clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { openWithoutTrustingCounts, repairReservedEntryCounts } from '../src/store/repair-reserved-counts.js';
import { abandonStore } from '../src/store/store.js';
import { fileSystemOf, leftovers, sweep, verifyProblems, widened } from './maintcrash-review-helpers.js';
import { imageOf } from './review-runs-helpers.js';
import { blockBytePages, buildStore, key, openAndRead, STORE, type BuiltStore, type Model } from './review-runs-helpers.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false } as const;
const LATER = 60;
let built: BuiltStore;
let damagedImage: Map<string, Uint8Array>;
/** Versions of the puts after the last checkpoint, in the WAL only. */
let laterVersions: number[];

beforeAll(async () => {
  built = await buildStore();
  const fileSystem = await fileSystemOf(built.image);
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  laterVersions = [];
  for (let index = 0; index < LATER; index++) laterVersions.push((await store.put(key(200 + index), { later: index, pad: 'w'.repeat(300) })).version);
  await store.close();
  damagedImage = imageOf(fileSystem);
  const wal = [...damagedImage.keys()].filter((path) => path.startsWith(`${STORE}/wal/`)).sort();
  const segment = (damagedImage.get(wal.at(-1) as string) as Uint8Array).slice();
  let end = segment.length;
  while (end > 0 && segment[end - 1] === 0) end--;
  segment[Math.floor(end * 0.6)] = (segment[Math.floor(end * 0.6)] as number) ^ 0x20;
  damagedImage.set(wal.at(-1) as string, segment);
  const warm = built.runFiles.find((file) => built.tiers.get(file) === 0) as string;
  const run = (damagedImage.get(warm) as Uint8Array).slice();
  const offset = (blockBytePages(run).get(0) as number[])[0] as number;
  run[offset] = (run[offset] as number) ^ 0x08;
  damagedImage.set(warm, run);
}, 60_000);

interface Repairing {
  fileSystem: FaultFileSystem;
  store?: Store;
}

/** What `ladybug repair <dir>` does, on `fileSystem`. */
async function repair(context: Repairing): Promise<void> {
  context.store = await openWithoutTrustingCounts(STORE, { fileSystem: context.fileSystem, repair: true, ...OPTIONS });
  const scrub = await context.store.scrub().finally(() => context.store?.close());
  expect(scrub.unrecoverable).toEqual([]);
  expect((await repairReservedEntryCounts(STORE, { fileSystem: context.fileSystem })).remaining).toEqual([]);
}

/** The model one uninterrupted repair leaves: the later puts up to the damage. */
async function repairedModel(): Promise<{ expected: BuiltStore; kept: number }> {
  const fileSystem = await fileSystemOf(damagedImage);
  await repair({ fileSystem });
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  let kept = 0;
  while (kept < LATER && (await store.get(key(200 + kept))) !== undefined) kept++;
  for (let index = kept; index < LATER; index++) expect(await store.get(key(200 + index))).toBeUndefined();
  await store.close();
  const model: Model = new Map(built.model);
  for (let index = 0; index < kept; index++) model.set(key(200 + index), [{ version: laterVersions[index] as number, value: { later: index, pad: 'w'.repeat(300) } }]);
  const version = kept === 0 ? built.version : (laterVersions[kept - 1] as number);
  return { expected: { ...built, model, version, asOfVersions: [...built.asOfVersions, version] }, kept };
}

describe('ladybug repair crashed part-way, then run again', () => {
  it('leaves what one uninterrupted repair leaves, at every as-of version, and numbers above every dropped version', async () => {
    const { expected, kept } = await repairedModel();
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(LATER);
    const { crashes } = await sweep<Repairing>({
      image: damagedImage, samples: 9, seed: 21,
      prepare: async (fileSystem) => ({ fileSystem }),
      operate: repair,
      abandon: (context) => context.store?.[abandonStore](),
      check: async (rebooted) => {
        const again: Repairing = { fileSystem: rebooted };
        try {
          await repair(again);
        } catch (error) {
          again.store?.[abandonStore]();
          return [`the second repair: ${String(error)}`];
        }
        const outcome = await openAndRead(rebooted, expected);
        if (outcome.kind !== 'exact') return [outcome.kind === 'wrong' ? outcome.message : `CorruptionError ${outcome.error.message}`];
        const store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
        const { version } = await store.put('after-repair', 1);
        await store.close();
        const problems = version > (laterVersions.at(-1) as number) ? [] : [`a new commit got version ${version}, dropped up to ${laterVersions.at(-1)}`];
        problems.push(...(await leftovers(rebooted, STORE)).map((path) => `left ${path}`));
        problems.push(...(await verifyProblems(rebooted, STORE)));
        return problems;
      },
    });
    expect(crashes).toBeGreaterThan(20);
  }, widened(60_000));
});
