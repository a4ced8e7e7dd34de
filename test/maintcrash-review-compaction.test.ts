/**
 * compact() of a store whose snapshot is open, and a retention-floor raise
 * (compact({ retainFrom }), which rewrites the runs into the cold tier), crashed after
 * each of their file-system operations (a seeded sample) in each crash mode. Every write
 * acknowledged before the compaction, including ones after the snapshot still in the WAL,
 * is there on the rebooted machine with its value at every as-of version (from the floor
 * on disk, the old or the raised one; below it refused), no run file is left that the
 * manifest does not name, and verify is clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, VersionNotRetainedError, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { leftovers, sweep, verifyProblems, widened } from './maintcrash-review-helpers.js';
import { buildStore, key, modelGet, openAndRead, STORE, type BuiltStore, type Model } from './review-runs-helpers.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false } as const;
let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

interface Opened {
  store: Store;
  snapshot?: { version: number; release(): void };
}

/** The model after the writes made after the snapshot (the same ones in every copy). */
function laterModel(): BuiltStore {
  const model: Model = new Map([...built.model].map(([k, versions]) => [k, [...versions]]));
  let version = built.version;
  for (let index = 0; index < 40; index += 3) {
    version++;
    const versions = model.get(key(index)) ?? [];
    versions.push(index % 2 === 0 ? { version, value: { later: index } } : { version });
    model.set(key(index), versions);
  }
  return { ...built, model, version, asOfVersions: [...built.asOfVersions, version] };
}

async function writeLater(store: Store): Promise<void> {
  for (let index = 0; index < 40; index += 3) {
    if (index % 2 === 0) await store.put(key(index), { later: index });
    else await store.delete(key(index));
  }
}

async function floorOnDisk(fileSystem: FaultFileSystem): Promise<number> {
  return (await Manifest.inspect(fileSystem, STORE, await loadHash64())).state.retentionFloor ?? 0;
}

async function cleanAfter(rebooted: FaultFileSystem): Promise<string[]> {
  const problems = (await leftovers(rebooted, STORE)).map((path) => `left ${path}`);
  problems.push(...(await verifyProblems(rebooted, STORE)));
  return problems;
}

/** The install: the manifest's writes, renames of finished runs, and the old runs' removal. */
const atInstall = (operation: string, path: string) => path.includes('/manifest/') || (path.includes('/runs/') && ['rename', 'unlink', 'syncDirectory'].includes(operation));

describe('compaction crashed part-way', () => {
  it('compact() with a snapshot open and later writes in the WAL: every acknowledged write exact after the reboot', async () => {
    const later = laterModel();
    const { crashes } = await sweep<Opened>({
      image: built.image, samples: 5, seed: 11, focus: atInstall,
      prepare: async (fileSystem) => {
        const store = await openStore(STORE, { fileSystem, ...OPTIONS });
        const snapshot = await store.snapshot();
        await writeLater(store);
        return { store, snapshot };
      },
      operate: async ({ store, snapshot }) => {
        await store.compact();
        for (const index of [0, 3, 6, 9]) expect(await (snapshot as unknown as Store).get(key(index))).toEqual(modelGet(built.model, key(index)));
        await store.close();
      },
      abandon: ({ store }) => store[abandonStore](),
      check: async (rebooted) => {
        const outcome = await openAndRead(rebooted, later);
        if (outcome.kind !== 'exact') return [outcome.kind === 'wrong' ? outcome.message : `CorruptionError ${outcome.error.message}`];
        return cleanAfter(rebooted);
      },
    });
    expect(crashes).toBeGreaterThan(16);
  }, widened(60_000));

  it('a retention-floor raise into the cold tier: the floor old or new, reads from it exact, below it refused', async () => {
    const raisedTo = built.asOfVersions[2] as number;
    const versions = [...new Set([...built.asOfVersions, raisedTo - 1, raisedTo, raisedTo + 1])].sort((a, b) => a - b);
    const { crashes } = await sweep<Opened>({
      image: built.image, samples: 5, seed: 12, focus: atInstall,
      prepare: async (fileSystem) => ({ store: await openStore(STORE, { fileSystem, ...OPTIONS }) }),
      operate: async ({ store }) => {
        expect((await store.compact({ retainFrom: raisedTo })).retentionFloor).toBe(raisedTo);
        expect(store.stats().storage.tiers.coldRuns).toBeGreaterThan(0);
        await store.close();
      },
      abandon: ({ store }) => store[abandonStore](),
      check: async (rebooted) => {
        const problems: string[] = [];
        const store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
        const floor = await floorOnDisk(rebooted);
        if (floor !== 0 && floor !== raisedTo) problems.push(`floor ${floor}`);
        if (store.version !== built.version) problems.push(`version ${store.version}, not ${built.version}`);
        for (const k of [...built.model.keys()].sort()) {
          for (const asOf of versions) {
            try {
              const got = await store.get(k, { asOf });
              if (asOf < floor) problems.push(`${k} as of ${asOf} answered below the floor ${floor}`);
              else if (JSON.stringify(got) !== JSON.stringify(modelGet(built.model, k, asOf))) problems.push(`${k} as of ${asOf}: ${JSON.stringify(got)}`);
            } catch (error) {
              if (!(error instanceof VersionNotRetainedError) || asOf >= floor) problems.push(`${k} as of ${asOf}: ${String(error)}`);
            }
          }
        }
        const scanned: Array<[unknown, unknown]> = [];
        for await (const [k, value] of store.scan()) scanned.push([k, value]);
        const expected = [...built.model.keys()].sort().map((k) => [k, modelGet(built.model, k)]).filter(([, value]) => value !== undefined);
        if (JSON.stringify(scanned) !== JSON.stringify(expected)) problems.push(`scan: ${scanned.length} entries, expected ${expected.length}`);
        await store.close();
        problems.push(...(await cleanAfter(rebooted)));
        return problems.slice(0, 5);
      },
    });
    expect(crashes).toBeGreaterThan(16);
  }, widened(60_000));
});
