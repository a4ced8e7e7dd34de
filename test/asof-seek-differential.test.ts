/**
 * Seeded differential test of reads as of old versions against a model: keys with 1
 * to 5,000 versions (some of them deletes), written over three runs, read with
 * get({ asOf }) at versions below, between and at their versions, and with history
 * (with and without a limit). Each key is read both before and after plain gets that
 * leave it in the point cache as an incomplete point (the read it cannot answer then
 * reads the runs again). A read as of an old version of a key with many blocks skips
 * the blocks above it (VersionSeek): the answers must stay exactly the model's, read
 * after a reopen with blocks cached (a file system that reads on the calling thread)
 * and with the smallest block cache on one without readSync (the search's block
 * reads are promises).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore, type Store } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { mulberry32 } from './support/seeded-random.js';

afterEach(() => removeTemporaryDirectories());

type ModelEntry = { version: number; value: string | undefined };

/** The model's answer of get as of `version`: the newest entry at or below it (a delete reads absent). */
function modelGet(entries: readonly ModelEntry[], version: number): string | undefined {
  let found: ModelEntry | undefined;
  for (const entry of entries) if (entry.version <= version) found = entry;
  return found?.value;
}

const VERSION_COUNTS = [1, 2, 3, 37, 120, 700, 1_900, 5_000];
const PHASES = 3;

const FILE_SYSTEMS: Array<[string, () => FileSystem | undefined, number, number]> = [
  ['reading on the calling thread', () => undefined, 64 * 1024 * 1024, 0x5eed_a50f],
  ['without readSync', () => new NoReadSyncFileSystem(new NodeFileSystem()), MEMORY_BUDGET_BYTES_MIN, 0x0a5e_ed17],
];

describe('get as of old versions and history over keys with many versions in several runs', () => {
  it.each(FILE_SYSTEMS)('answer as the model does, %s', async (_name, fileSystem, readBudget, seed) => {
    const draw = mulberry32(seed);
    const directory = temporaryDirectory();
    let store: Store = await openStore(directory, { memoryBudgetBytes: 64 * 1024 * 1024 });
    const model = new Map<string, ModelEntry[]>();
    const keys = VERSION_COUNTS.map((count, index) => ({ key: `key-${index}-${count}`, count }));
    for (const { key } of keys) model.set(key, []);
    let runsSeen = 0;
    try {
      for (let phase = 0; phase < PHASES; phase++) {
        // Each phase writes a share of each key's versions, the keys interleaved at random.
        const due: string[] = [];
        for (const { key, count } of keys) {
          const share = phase === PHASES - 1 ? count - Math.floor(count / PHASES) * (PHASES - 1) : Math.floor(count / PHASES);
          for (let index = 0; index < share; index++) due.push(key);
        }
        for (let index = due.length - 1; index > 0; index--) {
          const other = Math.floor(draw() * (index + 1));
          [due[index], due[other]] = [due[other]!, due[index]!];
        }
        for (let start = 0; start < due.length; start += 500) {
          const batch = due.slice(start, start + 500);
          const values = batch.map(() => (draw() < 0.08 ? undefined : `${'x'.repeat(90 + Math.floor(draw() * 60))}-${Math.floor(draw() * 1e9)}`));
          const results = await Promise.all(batch.map((key, index) => (values[index] === undefined ? store.delete(key) : store.put(key, values[index]))));
          results.forEach(({ version }, index) => model.get(batch[index]!)!.push({ version, value: values[index] }));
        }
        await store.checkpoint();
        runsSeen = Math.max(runsSeen, store.stats().storage.runs);
      }
      for (const entries of model.values()) entries.sort((a, b) => a.version - b.version);
      expect(runsSeen, 'the keys span several runs').toBeGreaterThan(1);
      await store.close();
      const given = fileSystem();
      store = await openStore(directory, { memoryBudgetBytes: readBudget, ...(given === undefined ? {} : { fileSystem: given }) });

      const checkKey = async (key: string, entries: readonly ModelEntry[], reads: number): Promise<void> => {
        const versions = [entries[0]!.version - 1, entries[0]!.version, entries.at(-1)!.version, entries.at(-1)!.version + 1];
        for (let read = 0; read < reads; read++) {
          const at = entries[Math.floor(draw() * entries.length)]!.version;
          versions.push(at, at - 1, at + 1);
        }
        for (const version of versions) {
          const asOf = Math.min(version, store.version);
          if (asOf < 0) continue;
          expect(await store.get(key, { asOf }), `${key} as of ${asOf}`).toBe(modelGet(entries, asOf));
        }
      };
      for (const { key, count } of keys) {
        const entries = model.get(key)!;
        // Cold: nothing of the key cached.
        await checkKey(key, entries, Math.min(count, 40));
        // Twice plainly (an incomplete point cached), then as of old versions again.
        for (let read = 0; read < 2; read++) expect(await store.get(key)).toBe(entries.at(-1)!.value);
        await checkKey(key, entries, Math.min(count, 40));
        const newestFirst = [...entries].reverse();
        const listed = (await store.history(key)).map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : entry.value }));
        expect(listed, `${key}'s history`).toEqual(newestFirst);
        const limit = 1 + Math.floor(draw() * count);
        expect((await store.history(key, { limit })).map((entry) => entry.version), `${key}'s history, limit ${limit}`).toEqual(newestFirst.slice(0, limit).map((entry) => entry.version));
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});
