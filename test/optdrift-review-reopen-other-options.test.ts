/**
 * A store written with one set of options and reopened after a crash with another
 * (README's options table): whatever was acknowledged reads back exactly. Keys include
 * bytes that are not UTF-8; values up to the first open's maxValueBytes, some in the WAL
 * tail the reopen replays. Each read is held to a model of every version: get, get as of
 * every fifth version, history, scan both ways, a watch from version 0; then a
 * scrub, a compaction, verifyStore, a reopen with the first options and keyEncoding
 * 'utf8' (a scan reaching a non-UTF-8 key may refuse with LADYBUG_KEY_NOT_UTF8), a
 * backup restored and read. Where the reopen keeps fewer versions, an as-of read answers
 * exactly or with VersionNotRetainedError, history is a prefix of the model's, and a
 * watch from 0 is whole or refused, never silently short.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { StoreOptions } from '../src/store/options.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { restoreStoreBackup } from '../src/backup/backup-api.js';
import { SeededRandom } from '../src/fs/fault/seeded-random.js';

type Entry = { version: number; value?: unknown; deleted: boolean };
/** Hex of each key's bytes -> its versions, oldest first. */
type Model = Map<string, Entry[]>;

const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');
const unhex = (key: string): Uint8Array => Uint8Array.from(Buffer.from(key, 'hex'));

function keyOf(index: number): Uint8Array {
  if (index % 7 === 3) return Uint8Array.of(0xff, 0xfe, index & 0xff, (index * 31) & 0xff); // not UTF-8
  return new TextEncoder().encode(`k${String(index).padStart(3, '0')}`);
}

async function write(store: Store, model: Model, seed: number, ops: number, valueMax: number, keys = 40): Promise<void> {
  const random = new SeededRandom(seed);
  for (let op = 0; op < ops; op++) {
    const index = random.nextInt(keys);
    const key = keyOf(index);
    const roll = random.nextInt(20);
    const size = Math.min(valueMax - 20, roll === 0 ? valueMax - 20 : roll < 4 ? 1 + random.nextInt(3000) : 1 + random.nextInt(60));
    if (roll === 19) {
      const { version } = await store.delete(key);
      entriesOf(model, key).push({ version, deleted: true });
    } else if (roll === 18) {
      const other = keyOf((index + 1) % keys);
      const value = `b${op}`;
      const { version } = await store.batch([{ type: 'put', key, value }, { type: 'put', key: other, value: `${value}x` }]);
      entriesOf(model, key).push({ version, value, deleted: false });
      entriesOf(model, other).push({ version, value: `${value}x`, deleted: false });
    } else {
      const value = op % 3 === 0 ? new Uint8Array(size).fill(op & 0xff) : `v${op}-${'x'.repeat(Math.max(0, size - 10))}`;
      const { version } = await store.put(key, value);
      entriesOf(model, key).push({ version, value, deleted: false });
    }
  }
}

function entriesOf(model: Model, key: Uint8Array): Entry[] {
  const entries = model.get(hex(key)) ?? [];
  model.set(hex(key), entries);
  return entries;
}

function normal(value: unknown): unknown {
  return value instanceof Uint8Array ? ['bytes', Buffer.from(value).toString('hex')] : value;
}

function valueAt(entries: Entry[], version: number): unknown {
  let answer: unknown;
  for (const entry of entries) if (entry.version <= version) answer = entry.deleted ? undefined : entry.value;
  return answer;
}

async function check(store: Store, model: Model, opts: { exactHistory: boolean; binary: boolean; label: string }): Promise<string[]> {
  const problems: string[] = [];
  const last = store.version;
  for (const [key, entries] of model) {
    const k = unhex(key);
    const newest = entries.at(-1)!;
    const got = await store.get(k).catch((e) => e);
    if (JSON.stringify(normal(got)) !== JSON.stringify(normal(newest.deleted ? undefined : newest.value))) problems.push(`${opts.label} get ${key}`);
    for (let v = 1; v <= last; v += 5) {
      try {
        const at = await store.get(k, { asOf: v });
        if (JSON.stringify(normal(at)) !== JSON.stringify(normal(valueAt(entries, v)))) problems.push(`${opts.label} get ${key} asOf ${v}: wrong`);
      } catch (error) {
        if (opts.exactHistory || (error as { code?: string }).code !== 'LADYBUG_VERSION_NOT_RETAINED') problems.push(`${opts.label} get ${key} asOf ${v}: ${String(error)}`);
      }
    }
    try {
      const history = await store.history(k);
      const expected = [...entries].reverse().map((e) => ({ version: e.version, deleted: e.deleted, value: normal(e.value) }));
      const actual = history.map((e) => ({ version: e.version, deleted: e.deleted, value: normal(e.value) }));
      if (opts.exactHistory) {
        if (JSON.stringify(actual) !== JSON.stringify(expected)) problems.push(`${opts.label} history ${key}: ${actual.length} vs ${expected.length}`);
      } else if (JSON.stringify(actual) !== JSON.stringify(expected.slice(0, actual.length)) || actual.length === 0) {
        problems.push(`${opts.label} history ${key} not a prefix`);
      }
    } catch (error) {
      problems.push(`${opts.label} history ${key}: ${String(error)}`);
    }
  }
  const live = [...model].filter(([, e]) => !e.at(-1)!.deleted).map(([k, e]) => [k, JSON.stringify(normal(e.at(-1)!.value))]).sort();
  for (const reverse of [false, true]) {
    try {
      const seen: string[][] = [];
      for await (const [key, value] of store.scan({ reverse })) {
        seen.push([typeof key === 'string' ? hex(new TextEncoder().encode(key)) : hex(key), JSON.stringify(normal(value))]);
      }
      if (reverse) seen.reverse();
      if (JSON.stringify(seen) !== JSON.stringify(live)) problems.push(`${opts.label} scan reverse=${reverse}: ${seen.length} vs ${live.length}`);
    } catch (error) {
      if (opts.binary || (error as { code?: string }).code !== 'LADYBUG_KEY_NOT_UTF8') problems.push(`${opts.label} scan reverse=${reverse}: ${String(error)}`);
    }
  }
  if (opts.binary) {
    try {
      const changes: string[] = [];
      for await (const change of store.watch({ sinceVersion: 0, untilVersion: last })) {
        changes.push(`${change.version}/${hex(change.key as Uint8Array)}/${change.deleted}/${JSON.stringify(normal(change.value))}`);
      }
      const expected: string[] = [];
      for (const [key, entries] of model) for (const e of entries) expected.push(`${e.version}/${key}/${e.deleted}/${JSON.stringify(normal(e.deleted ? undefined : e.value))}`);
      const sort = (a: string[]) => [...a].sort();
      if (JSON.stringify(sort(changes)) !== JSON.stringify(sort(expected))) problems.push(`${opts.label} watch ${changes.length} vs ${expected.length}`);
    } catch (error) {
      if (opts.exactHistory || (error as { code?: string }).code !== 'LADYBUG_VERSION_NOT_RETAINED') problems.push(`${opts.label} watch: ${String(error)}`);
    }
  }
  return problems;
}

interface Scenario { name: string; written: StoreOptions; reopened: StoreOptions; exactHistory: boolean }

const scenarios: Scenario[] = [
  // Values up to 30,000 bytes, some in the WAL tail the reopen replays, read under a 1 KiB limit on 16 KiB segments.
  { name: 'maxValueBytes and segmentSizeBytes lowered', written: { maxValueBytes: 30000, segmentSizeBytes: 1024 * 1024 }, reopened: { maxValueBytes: 1024, segmentSizeBytes: 16 * 1024 }, exactHistory: true },
  { name: 'memoryBudgetBytes from 64 GiB to 256 KiB, walCheckpointBytes lowered', written: { memoryBudgetBytes: 64 * 1024 ** 3, walCheckpointBytes: 1024 ** 3, maxValueBytes: 8000 }, reopened: { memoryBudgetBytes: 256 * 1024, walCheckpointBytes: 64 * 1024 }, exactHistory: true },
  // Old versions: every as-of read answers exactly or VersionNotRetainedError, history is a prefix, a watch from 0 is whole or refused.
  { name: 'maxVersionsPerKey from Infinity to 1, retention by age turned off', written: { retainVersionsMs: 10_000_000, maxValueBytes: 8000 }, reopened: { maxVersionsPerKey: 1 }, exactHistory: false },
];

describe('a store reopened with other options than it was written with', () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: after a crash every read, a compaction, a backup and a utf8 reopen answer from what was written`, async () => {
      const written = new FaultFileSystem(3);
      const model: Model = new Map();
      const store = await openStore('/db', { fileSystem: written, keyEncoding: 'binary', checkpointOnClose: false, ...scenario.written });
      const valueMax = scenario.written.maxValueBytes!;
      await write(store, model, 1, 120, valueMax);
      await store.checkpoint();
      await write(store, model, 2, 60, valueMax);
      await store.compact();
      await write(store, model, 3, 80, valueMax); // the WAL tail
      store[abandonStore]();
      const fileSystem = written.crash('drop-unsynced');
      const options = { fileSystem, keyEncoding: 'binary' as const, ...scenario.reopened };
      const reopened = await openStore('/db', options);
      const labels = { exactHistory: scenario.exactHistory, binary: true };
      const problems = await check(reopened, model, { ...labels, label: 'reopened' });
      await write(reopened, model, 4, 40, Math.min(valueMax, scenario.reopened.maxValueBytes ?? valueMax));
      expect((await reopened.scrub()).unrecoverable).toEqual([]);
      await reopened.compact();
      problems.push(...await check(reopened, model, { ...labels, label: 'compacted' }));
      await reopened.backup('/backup');
      await reopened.close();
      const report = await verifyStore('/db', { fileSystem });
      expect(report.ok).toBe(true);
      const utf8 = await openStore('/db', { fileSystem, ...scenario.written });
      problems.push(...await check(utf8, model, { ...labels, binary: false, label: 'utf8' }));
      await utf8.close();
      await restoreStoreBackup('/backup', '/restored', { fileSystem });
      const restored = await openStore('/restored', options);
      problems.push(...await check(restored, model, { ...labels, label: 'restored' }));
      await restored.close();
      expect(problems).toEqual([]);
    }, 60_000);
  }
});
