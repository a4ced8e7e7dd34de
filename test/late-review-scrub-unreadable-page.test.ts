/**
 * store.scrub() while a data page of a stripe fails its reads for a while (EIO), alone and
 * beside silent damage on another page of the same stripe, on the flushed (warm) run and the
 * packed (cold) run: the scrub's parity step takes an unreadable page as zeros, and must never
 * rewrite a parity page from bytes no check vouches for. Once the fault clears every read is
 * exact (one page truly bad is always repairable), and a later scrub finds nothing unrecoverable;
 * with two pages truly bad, a key read exactly before the scrub still is, the rest fail with
 * StripeCorruptionError (the scrub made nothing repairable unrepairable).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { StripeCorruptionError } from '../src/stripe/stripe-errors.js';
import type { Store } from '../src/store/store.js';
import { buildStore, fileSystemOf, modelGet, readEverything, STORE, type BuiltStore } from './review-runs-helpers.js';
import { FlakySectorFileSystem } from './flaky-sector-file-system.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

const options = (fileSystem: FileSystem) => ({ fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });

describe('scrub while a data page of a stripe fails its reads for a while', () => {
  it('alone or beside silent damage on another page of the stripe: after the clear every read is exact and a scrub finds nothing unrecoverable', async () => {
    const warm = built.runFiles.find((path) => built.tiers.get(path) === 0) as string;
    const cold = built.runFiles.find((path) => built.tiers.get(path) !== 0) as string;
    const wrong: string[] = [];
    const found: string[] = [];
    for (const file of [warm, cold]) {
      for (const [damaged, flaky] of [[undefined, 0], [undefined, 1], [0, 1], [1, 0], [2, 5]] as const) {
        for (const [from, to] of damaged === undefined ? [[0, 0]] as const : [[0, 1024], [3072, 4096], [1024, 2048]] as const) {
          for (const failures of [1, 2, 1_000_000]) {
            const image = new Map(built.image);
            const bytes = Uint8Array.from(image.get(file) as Uint8Array);
            if (damaged !== undefined) for (let at = damaged * RUN_PAGE_BYTES + from; at < damaged * RUN_PAGE_BYTES + to; at++) bytes[at] = (bytes[at] as number) ^ 0x5a;
            image.set(file, bytes);
            const fileSystem = new FlakySectorFileSystem(await fileSystemOf(image));
            const store = await openStore(STORE, options(fileSystem));
            fileSystem.markFlaky(file, flaky * RUN_PAGE_BYTES, (flaky + 1) * RUN_PAGE_BYTES, failures);
            const label = `${file === cold ? 'cold' : 'warm'}: damage on page ${String(damaged)} [${from}, ${to}), EIO x${failures} on page ${flaky}`;
            const first = await store.scrub().catch((error: unknown) => wrong.push(`${label}: scrub rejected: ${(error as Error).message.slice(0, 160)}`));
            if (typeof first === 'object') found.push(`${label}: ${first.repaired.length} repaired, ${first.unrecoverable.length} unrecoverable`);
            fileSystem.clear();
            try {
              await readEverything(store, built);
              expect(store.stats().storage.unrecoverableBlocks).toBe(0);
              expect((await store.scrub()).unrecoverable).toEqual([]);
              await readEverything(store, built);
            } catch (error) {
              wrong.push(`${label}: ${(error as Error).message.slice(0, 200)}`);
            }
            await store.close();
          }
        }
      }
    }
    // The probes reached the scrub's repairs and its unrecoverable findings while the fault lasted.
    expect(found.some((line) => !line.includes(': 0 repaired'))).toBe(true);
    expect(found.some((line) => !line.endsWith(' 0 unrecoverable'))).toBe(true);
    expect(wrong).toEqual([]);
  }, 60_000);

  it('each page of the stripe in turn failing until cleared, alone or beside damage on the next page: after the clear every read is exact', async () => {
    const warm = built.runFiles.find((path) => built.tiers.get(path) === 0) as string;
    const cold = built.runFiles.find((path) => built.tiers.get(path) !== 0) as string;
    const wrong: string[] = [];
    for (const file of [warm, cold]) {
      for (let flaky = 0; flaky <= 16; flaky++) {
        const damaged = (flaky + 1) % 16;
        for (const [from, to] of [[0, 0], [0, 1024]] as const) {
          const image = new Map(built.image);
          const bytes = Uint8Array.from(image.get(file) as Uint8Array);
          for (let at = damaged * RUN_PAGE_BYTES + from; at < damaged * RUN_PAGE_BYTES + to; at++) bytes[at] = (bytes[at] as number) ^ 0x5a;
          image.set(file, bytes);
          const fileSystem = new FlakySectorFileSystem(await fileSystemOf(image));
          const store = await openStore(STORE, options(fileSystem));
          fileSystem.markFlaky(file, flaky * RUN_PAGE_BYTES, (flaky + 1) * RUN_PAGE_BYTES, 1_000_000);
          const label = `${file === cold ? 'cold' : 'warm'}: damage on page ${damaged} [${from}, ${to}), EIO on page ${flaky}`;
          // Two scrubs while the fault lasts: the second works on what the first wrote.
          for (let scrub = 0; scrub < 2; scrub++) {
            await store.scrub().catch((error: unknown) => wrong.push(`${label}: scrub rejected: ${(error as Error).message.slice(0, 160)}`));
          }
          fileSystem.clear();
          try {
            await readEverything(store, built);
            expect(store.stats().storage.unrecoverableBlocks).toBe(0);
            expect((await store.scrub()).unrecoverable).toEqual([]);
          } catch (error) {
            wrong.push(`${label}: ${(error as Error).message.slice(0, 200)}`);
          }
          await store.close();
          // The files as the scrubs left them: a fresh open reads exactly.
          const again = await openStore(STORE, options(fileSystem));
          await readEverything(again, built).catch((error: unknown) => wrong.push(`${label}: reopened: ${(error as Error).message.slice(0, 200)}`));
          await again.close();
        }
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('two pages of the stripe truly damaged, a third failing during the scrub: afterwards a key read exactly before still is, the others fail with StripeCorruptionError', async () => {
    const outcomes = async (store: Store) => {
      const result: string[] = [];
      for (const k of [...built.model.keys()].sort()) {
        try {
          const value = await store.get(k);
          result.push(JSON.stringify(value) === JSON.stringify(modelGet(built.model, k)) ? 'exact' : `${k} wrong`);
        } catch (error) {
          result.push(error instanceof StripeCorruptionError ? 'corrupt' : `${k} ${(error as Error).name}`);
        }
      }
      return result;
    };
    const wrong: string[] = [];
    let corrupt = 0;
    for (const file of built.runFiles) {
      for (const [first, second, flaky] of [[0, 1, 5], [1, 2, 0], [3, 7, 2]] as const) {
        const image = new Map(built.image);
        const bytes = Uint8Array.from(image.get(file) as Uint8Array);
        for (const page of [first, second]) for (let at = page * RUN_PAGE_BYTES + 1024; at < page * RUN_PAGE_BYTES + 2048; at++) bytes[at] = (bytes[at] as number) ^ 0x5a;
        image.set(file, bytes);
        const label = `${file}: damage on pages ${first} and ${second}, EIO on page ${flaky}`;
        const before = await openStore(STORE, options(await fileSystemOf(image)));
        const expected = await outcomes(before);
        await before.close();
        const fileSystem = new FlakySectorFileSystem(await fileSystemOf(image));
        const store = await openStore(STORE, options(fileSystem));
        fileSystem.markFlaky(file, flaky * RUN_PAGE_BYTES, (flaky + 1) * RUN_PAGE_BYTES, 1_000_000);
        await store.scrub().catch((error: unknown) => wrong.push(`${label}: scrub rejected: ${(error as Error).message.slice(0, 160)}`));
        fileSystem.clear();
        await store.scrub();
        const after = await outcomes(store);
        corrupt += after.filter((outcome) => outcome === 'corrupt').length;
        for (const [index, outcome] of after.entries()) {
          if (outcome !== 'corrupt' && outcome !== 'exact') wrong.push(`${label}: ${outcome}`);
          if (expected[index] === 'exact' && outcome !== 'exact') wrong.push(`${label}: key ${index} read exactly before the scrub, ${outcome} after`);
        }
        await store.close();
      }
    }
    expect(wrong).toEqual([]);
    expect(corrupt).toBeGreaterThan(0);
  }, 60_000);
});
