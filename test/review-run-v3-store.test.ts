/**
 * Review of run format 3 through a store: history() and as-of reads of keys whose
 * versions fill partitions (long keys, one hot key with hundreds of versions)
 * after flushes, a compaction merging them, and a reopen; compared with a plain
 * model of every committed version.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const DIRECTORY = '/db';

interface ModelVersion {
  version: number;
  value: string | undefined;
}

async function expectStoreExact(store: Store, model: Map<string, ModelVersion[]>): Promise<void> {
  for (const [key, versions] of model) {
    const newestFirst = [...versions].reverse();
    const history = await store.history(key);
    expect(history.map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : entry.value }))).toEqual(newestFirst);
    for (let index = 0; index < newestFirst.length; index += 7) {
      const { version, value } = newestFirst[index]!;
      expect(await store.get(key, { asOf: version })).toEqual(value);
      expect(await store.get(key, { asOf: version - 1 })).toEqual(newestFirst[index + 1]?.value);
    }
  }
}

describe('run format 3 through a store', () => {
  it('history() and as-of reads exact across partitions after flushes, a full compaction and a reopen', async () => {
    const fileSystem = new FaultFileSystem(3);
    const options = { fileSystem, memoryBudgetBytes: 512 * 1024, maxVersionsPerKey: Number.MAX_SAFE_INTEGER };
    let store = await openStore(DIRECTORY, options);
    const model = new Map<string, ModelVersion[]>();
    const record = (key: string, version: number, value: string | undefined) => {
      const list = model.get(key) ?? [];
      list.push({ version, value });
      model.set(key, list);
    };
    const longKey = (index: number) => `${String(index).padStart(4, '0')}${'q'.repeat(900)}`;
    for (let round = 0; round < 6; round++) {
      for (let index = 0; index < 120; index++) {
        const key = longKey(index);
        if ((index + round) % 9 === 0) record(key, (await store.delete(key)).version, undefined);
        else {
          const value = `${round}-${index}-${'v'.repeat(200 + ((index * 13) % 1500))}`;
          record(key, (await store.put(key, value)).version, value);
        }
      }
      for (let hot = 0; hot < 80; hot++) {
        const value = `hot-${round}-${hot}-${'h'.repeat(2500)}`;
        record('hot', (await store.put('hot', value)).version, value);
      }
      await store.checkpoint();
    }
    await expectStoreExact(store, model);
    await store.compact();
    // The merged run is partitioned (format 5, or 6 when the merge wrote it compressed: formats 3 and 4 with filter kinds) with several partitions (footer: u32 format version at 16, u32 K at 36, u64 top-level index offset at 40).
    const runNames = (await fileSystem.readdir(`${DIRECTORY}/runs`)).filter((name) => name.endsWith('.run'));
    expect(runNames.length).toBeGreaterThan(0);
    for (const name of runNames) {
      const file = Buffer.from(await fileSystem.readFile(`${DIRECTORY}/runs/${name}`));
      const footer = file.subarray(file.length - 4096);
      expect([5, 6]).toContain(footer.readUInt32LE(16));
      // The top-level index's block header (u32 entry count at 12: partitions), at its physical page.
      const stripeDataPages = footer.readUInt32LE(36);
      const topPage = Number(footer.readBigUInt64LE(40)) / 4096;
      const physicalPage = Math.floor(topPage / stripeDataPages) * (stripeDataPages + 1) + (topPage % stripeDataPages);
      expect(file.readUInt32LE(physicalPage * 4096 + 12)).toBeGreaterThanOrEqual(3);
    }
    await expectStoreExact(store, model);
    await store.close();
    store = await openStore(DIRECTORY, options);
    await expectStoreExact(store, model);
    await store.close();
  });
});
