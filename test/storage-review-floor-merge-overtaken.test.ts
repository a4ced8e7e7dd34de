/**
 * A floor merge (compact({ retainFrom }) of every run) that meets a background merge
 * already under way: the background merge is either cancelled before its manifest edit
 * (superseded) or, past its last cancellation check, installs fully; then the floor
 * merge runs over what is live. Neither way is an input merged twice into two outputs:
 * runs/ holds exactly the manifest's runs, every input file is gone, each installed
 * compaction is counted once (a superseded one as cancelled, not as a failure), and
 * every read (newest, as of each version, below the floor) answers as the model says,
 * before and after a reopen. maxVersionsPerKey 2, keys overwritten and deleted across
 * the runs. In process (FaultFileSystem), interleavings forced by test hooks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest, type ManifestEdit } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';

const originalApply = Manifest.prototype.apply;
afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  Manifest.prototype.apply = originalApply;
});

const OPTIONS = { maxVersionsPerKey: 2, memoryBudgetBytes: 4 * 1024 * 1024 };
const REFUSED = 'LADYBUG_VERSION_NOT_RETAINED';
const KEYS = 12;

/** version -> key -> value (undefined: deleted), per committed version. */
type History = Map<string, Array<{ version: number; value: string | undefined }>>;

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** Four flushed runs over the same keys (puts, overwrites, deletes); the fourth's flush starts a background merge. */
async function fourRuns(store: Store, history: History): Promise<void> {
  for (let round = 0; round < 4; round++) {
    for (let index = 0; index < KEYS; index++) {
      const key = `k${String(index).padStart(2, '0')}`;
      const remove = (index + round) % 5 === 0;
      if (remove) await store.delete(key);
      else await store.put(key, `${key}@${round}`);
      const version = store.stats().version;
      const entries = history.get(key) ?? [];
      entries.push({ version, value: remove ? undefined : `${key}@${round}` });
      history.set(key, entries);
    }
    await store.checkpoint();
  }
}

/** The model's answer for `key` as of `version` with `floor`: the value, undefined, or refused. */
function expected(history: History, key: string, version: number, floor: number): unknown {
  if (version < floor) return REFUSED;
  const entries = history.get(key)!;
  const newestFirst = entries.filter((entry) => entry.version <= version).reverse();
  if (newestFirst.length === 0) return undefined;
  // maxVersionsPerKey 2: an as-of read is answered only from the key's newest two versions.
  const retained = entries.slice(-2);
  return retained.includes(newestFirst[0]!) ? newestFirst[0]!.value : REFUSED;
}

async function expectModel(store: Store, history: History, floor: number, label: string): Promise<void> {
  const last = store.stats().version;
  for (const [key, entries] of history) {
    expect(await store.get(key), `${label}: ${key}`).toEqual(entries.at(-1)!.value);
    for (let version = 1; version <= last; version++) {
      const answer = await readAsOf(store, key, version);
      const model = expected(history, key, version, floor);
      // A version older than the newest two may be answered while no merge dropped it yet; never a wrong value.
      if (model === REFUSED && version >= floor) expect([REFUSED, expectedUnbounded(history, key, version)], `${label}: ${key} as of ${version}`).toContainEqual(answer);
      else expect(answer, `${label}: ${key} as of ${version}`).toEqual(model);
    }
  }
}

function expectedUnbounded(history: History, key: string, version: number): unknown {
  const newest = history.get(key)!.filter((entry) => entry.version <= version).at(-1);
  return newest?.value;
}

async function expectRunsListed(fileSystem: FaultFileSystem, store: Store, label: string): Promise<void> {
  const onDisk = await fileSystem.readdir('/db/runs');
  expect(onDisk.every((name) => /^\d{10}\.run$/.test(name)), `${label}: no temporary file in ${onDisk.join(', ')}`).toBe(true);
  expect(onDisk.length, `${label}: runs/ holds exactly the live runs`).toBe(store.stats().storage.runs);
}

describe('a floor merge overtaking a background merge', () => {
  for (const when of ['before its manifest edit', 'during its manifest edit'] as const) {
    it(`the background merge held ${when}: no run merged twice, each compaction counted once, reads exact`, async () => {
      const fileSystem = new FaultFileSystem(41);
      const history: History = new Map();
      let store = await openStore('/db', { fileSystem, ...OPTIONS });
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let backgroundHeld = false;
      if (when === 'before its manifest edit') {
        compactionTestHooks.onHorizon = async () => {
          compactionTestHooks.onHorizon = undefined;
          backgroundHeld = true;
          await held;
        };
      } else {
        Manifest.prototype.apply = async function (this: Manifest, edit: ManifestEdit): Promise<void> {
          if (edit.removeRunIds !== undefined && edit.removeRunIds.length > 0 && !backgroundHeld) {
            backgroundHeld = true;
            const applying = originalApply.call(this, edit);
            await held;
            return applying;
          }
          return originalApply.call(this, edit);
        };
      }
      await fourRuns(store, history);
      for (let turn = 0; turn < 1000 && !backgroundHeld; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(backgroundHeld, 'a background merge is under way').toBe(true);
      const before = store.stats().storage.compaction;
      const floor = store.stats().version - 3;
      const compaction = store.compact({ retainFrom: floor });
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      release();
      const result = await compaction;
      expect(result.outcome).toBe('compacted');
      expect(result.retentionFloor).toBe(floor);
      const after = store.stats().storage.compaction;
      expect(after.failures - before.failures, 'no failure').toBe(0);
      if (when === 'before its manifest edit') {
        expect(after.cancelled - before.cancelled, 'the background merge superseded').toBe(1);
        expect(after.compactions - before.compactions, 'one compaction installed').toBe(1);
      } else {
        expect(after.cancelled - before.cancelled, 'the background merge was past its cancellation').toBe(0);
        expect(after.compactions - before.compactions, 'the background merge, then the floor merge').toBe(2);
      }
      expect(store.stats().storage.runs).toBe(1);
      await expectRunsListed(fileSystem, store, 'after the compaction');
      await expectModel(store, history, floor, 'after the compaction');
      await store.close();
      Manifest.prototype.apply = originalApply;
      store = await openStore('/db', { fileSystem, ...OPTIONS });
      expect(store.stats().recovery.removedOrphans, 'no orphan at the reopen').toEqual([]);
      await expectRunsListed(fileSystem, store, 'reopened');
      await expectModel(store, history, floor, 'reopened');
      await store.close();
    });
  }
});
