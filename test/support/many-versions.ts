/**
 * A store directory holding one key ('k') with 20,000 versions in one run (about 600
 * one-page blocks, ~120-byte values), 'j' before it and 'l' after it, checkpointed and
 * closed: the run the point-read tests of a many-version key count block reads on.
 */
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { openStore, type Store } from '../../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../../src/limits.js';
import { RunReadCounter } from './file-system-wrappers.js';

export const MANY_VERSIONS = 20_000;

/** The value of the key's `index`th version (0: oldest). */
export const manyVersionsValueOf = (index: number): string => `${'v'.repeat(110)}${index}`;

/** Writes the store into `directory`; returns the key's versions, ascending (versions[i] holds manyVersionsValueOf(i)). */
export async function writeManyVersionsStore(directory: string): Promise<number[]> {
  const versions: number[] = [];
  const store = await openStore(directory, { memoryBudgetBytes: 64 * 1024 * 1024 });
  for (let start = 0; start < MANY_VERSIONS; start += 1000) {
    const pending = [];
    for (let index = start; index < start + 1000; index++) pending.push(store.put('k', manyVersionsValueOf(index)));
    for (const { version } of await Promise.all(pending)) versions.push(version);
  }
  await store.put('j', 'before');
  await store.put('l', 'after');
  await store.checkpoint();
  await store.close();
  // Versions were assigned in put order within each group of concurrent puts.
  return versions.sort((a, b) => a - b);
}

/**
 * Opens the store written by writeManyVersionsStore at the smallest budget, its run reads
 * counted, and reads 'j' once so that the run's index and filter are loaded before the
 * caller counts. The caller closes the store.
 */
export async function openCountedManyVersionsStore(directory: string): Promise<{ store: Store; counter: RunReadCounter }> {
  const counter = new RunReadCounter(new NodeFileSystem());
  const store = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, fileSystem: counter });
  try {
    const warm = await store.get('j');
    if (warm !== 'before') throw new Error(`'j' reads ${String(warm)}, not 'before'`);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, counter };
}
