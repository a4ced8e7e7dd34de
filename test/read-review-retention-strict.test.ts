/**
 * With no reader pinned, per-key retention decides every as-of read exactly: a get as of
 * v answers the entry visible at v when fewer than maxVersionsPerKey entries of the key
 * lie above it (up to the newest version), is refused (VersionNotRetainedError) when
 * that many do, and answers absent below the key's first version; history lists exactly
 * the newest maxVersionsPerKey entries. The same wherever the versions lie: the
 * memtable (trimmed chains), runs (markers), after merges; with hot keys read between
 * writes (point cache, memtable hot path).
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { mulberry32 as seeded } from './support/seeded-random.js';

type Entry = { version: number; value: string | undefined };

function expectedAsOf(history: Entry[], asOf: number, newest: number, keep: number): { value: string | undefined } | 'refused' {
  let index = -1;
  for (let at = 0; at < history.length; at++) if (history[at]!.version <= asOf) index = at;
  if (index < 0) return { value: undefined };
  const above = history.filter((entry) => entry.version > history[index]!.version && entry.version <= newest).length;
  return above < keep ? { value: history[index]!.value } : 'refused';
}

async function runRound(seed: number, keep: number): Promise<number> {
  const random = seeded(seed);
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), maxVersionsPerKey: keep, memoryBudgetBytes: 256 * 1024 });
  const keys = ['a', 'b', 'c', 'hot', 'hot2', ...Array.from({ length: 20 }, (_, index) => `k${index}`)];
  const model = new Map<string, Entry[]>();
  let checked = 0;
  for (let step = 0; step < 1500; step++) {
    const roll = random();
    const key = random() < 0.5 ? keys[3 + Math.floor(random() * 2)]! : keys[Math.floor(random() * keys.length)]!;
    if (roll < 0.4) {
      const value = `${key}@${step}`;
      const { version } = await store.put(key, value);
      model.set(key, [...(model.get(key) ?? []), { version, value }]);
    } else if (roll < 0.5) {
      const { version } = await store.delete(key);
      model.set(key, [...(model.get(key) ?? []), { version, value: undefined }]);
    } else if (roll < 0.85) {
      const asOf = random() < 0.3 ? store.version : Math.floor(random() * (store.version + 1));
      const want = expectedAsOf(model.get(key) ?? [], asOf, store.version, keep);
      const label = `seed ${seed} step ${step}: get ${key} as of ${asOf} (newest ${store.version}) history ${JSON.stringify(model.get(key))}`;
      let got: { value: string | undefined } | 'refused';
      try {
        got = { value: (await store.get(key, { asOf })) as string | undefined };
      } catch (error) {
        if ((error as { code?: string }).code !== 'LADYBUG_VERSION_NOT_RETAINED') throw error;
        got = 'refused';
      }
      expect(got, label).toEqual(want);
      checked++;
    } else if (roll < 0.88) {
      // A scan as of an old version: every key before the first refused one, then the refusal.
      const asOf = Math.floor(random() * (store.version + 1));
      const reverse = random() < 0.5;
      const ordered = [...model.keys()].sort();
      if (reverse) ordered.reverse();
      const want: Array<[string, string] | 'refused'> = [];
      for (const name of ordered) {
        const answer = expectedAsOf(model.get(name)!, asOf, store.version, keep);
        if (answer === 'refused') {
          want.push('refused');
          break;
        }
        if (answer.value !== undefined) want.push([name, answer.value]);
      }
      const got: Array<[string, string] | 'refused'> = [];
      try {
        for await (const [name, value] of store.scan({ asOf, reverse })) got.push([name as string, value as string]);
      } catch (error) {
        if ((error as { code?: string }).code !== 'LADYBUG_VERSION_NOT_RETAINED') throw error;
        got.push('refused');
      }
      expect(got, `seed ${seed} step ${step}: scan as of ${asOf} reverse ${reverse} (newest ${store.version})`).toEqual(want);
      checked++;
    } else if (roll < 0.9) {
      const history = await store.history(key);
      const want = (model.get(key) ?? []).slice().reverse().slice(0, keep);
      expect(history.map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : entry.value })), `seed ${seed} step ${step}: history ${key}`).toEqual(want);
      checked++;
    } else if (roll < 0.96) {
      await store.checkpoint();
    } else {
      await store.compact();
    }
  }
  await store.close();
  return checked;
}

describe('per-key retention decides as-of reads exactly when no reader is pinned', () => {
  for (const [seed, keep] of [[61, 1], [62, 2], [63, 3], [64, 1], [65, 2]] as const) {
    it(`seed ${seed}, maxVersionsPerKey ${keep}`, async () => {
      expect(await runRound(seed, keep)).toBeGreaterThan(500);
    });
  }
});
