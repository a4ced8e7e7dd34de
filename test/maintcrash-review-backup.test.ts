/**
 * A backup (hard-linked and copied) and a restore crashed after each of their
 * file-system operations (a seeded sample) in each crash mode, including a torn last
 * write and a kill that keeps the page cache. After the reboot: the store answers every
 * read of the model and holds no run its manifest does not name; the backup directory
 * is either reported unusable by verifyBackup and refused by restoreBackup (nothing
 * written), or restorable and restored exact; the restore target is missing or empty,
 * refused at open, or a complete store, never one that opens with part of the data.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { fileSystemOf, leftovers, sweep, verifyProblems, widened } from './maintcrash-review-helpers.js';
import { buildStore, imageOf, modelGet, openAndRead, STORE, type BuiltStore } from './review-runs-helpers.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false } as const;
let built: BuiltStore;
let backedUp: Map<string, Uint8Array>;
beforeAll(async () => {
  built = await buildStore();
  const fileSystem = await fileSystemOf(built.image);
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  await store.backup('/backup', { link: false });
  await store.close();
  backedUp = imageOf(fileSystem);
}, 60_000);

/** Problems of a restored store in `directory`: every key's newest value and the scan as of the backup. */
async function restoredProblems(fileSystem: FaultFileSystem, directory: string): Promise<string[]> {
  const store = await openStore(directory, { fileSystem, ...OPTIONS });
  const problems: string[] = [];
  try {
    if (store.version !== built.version) problems.push(`restored version ${store.version}, not ${built.version}`);
    const scanned: Array<[unknown, unknown]> = [];
    for await (const [k, value] of store.scan()) scanned.push([k, value]);
    const expected = [...built.model.keys()].sort().map((k) => [k, modelGet(built.model, k)]).filter(([, value]) => value !== undefined);
    if (JSON.stringify(scanned) !== JSON.stringify(expected)) problems.push(`restored scan: ${scanned.length} entries, expected ${expected.length}`);
  } finally {
    await store.close();
  }
  problems.push(...(await verifyProblems(fileSystem, directory)));
  return problems;
}

/** Removes `directory` and everything under it (rm -r). */
async function removeTree(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  for (const name of await fileSystem.readdir(directory)) {
    const path = `${directory}/${name}`;
    if (fileSystem.listPaths().includes(path)) await fileSystem.unlink(path);
    else await removeTree(fileSystem, path);
  }
  await fileSystem.removeDirectory(directory);
}

/** The backup left by the crash: unusable and refused, or restorable and restored exact. */
async function backupProblems(fileSystem: FaultFileSystem): Promise<string[]> {
  if (!(await fileSystem.exists('/backup')) || (await fileSystem.readdir('/backup')).length === 0) return [];
  const opened = await openStore('/backup', { fileSystem, ...OPTIONS }).catch((error: unknown) => error);
  if (!(opened instanceof BackupError)) {
    if (!(opened instanceof Error)) (opened as Store)[abandonStore]();
    return [`openStore of the backup directory (${fileSystem.listPaths().filter((path) => path.startsWith('/backup/')).join(', ')}): ${String(opened)}`];
  }
  const report = await verifyBackup('/backup', { fileSystem });
  const restored = await restoreBackup('/backup', '/restored', { fileSystem }).then(() => true, (error: unknown) => error);
  if (report.restorable) {
    if (restored !== true) return [`verify said restorable, restore failed: ${String(restored)}`];
    return restoredProblems(fileSystem, '/restored');
  }
  if (restored === true) return [`verify said not restorable (${JSON.stringify(report.problems).slice(0, 200)}), restore succeeded`];
  const problems = restored instanceof BackupError ? [] : [`restore refused with ${String(restored)}`];
  if (await fileSystem.exists('/restored')) problems.push('a refused restore left /restored');
  return problems;
}

/** Crash also right before and after each call on the incomplete mark (its writing and its removal). */
const atMark = (_operation: string, path: string) => path.includes('BACKUP-INCOMPLETE');

describe('a backup crashed part-way', () => {
  for (const link of [true, false]) {
    it(`${link ? 'hard-linked' : 'copied'}: the store exact, the backup refused or restorable exact`, async () => {
      let restorable = 0;
      const { crashes } = await sweep<Store>({
        image: built.image, samples: 4, seed: link ? 31 : 32, focus: atMark,
        prepare: (fileSystem) => openStore(STORE, { fileSystem, ...OPTIONS }),
        operate: async (store) => {
          await store.backup('/backup', { link });
          await store.close();
        },
        abandon: (store) => store[abandonStore](),
        check: async (rebooted) => {
          const outcome = await openAndRead(rebooted, built);
          if (outcome.kind !== 'exact') return [outcome.kind === 'wrong' ? outcome.message : `CorruptionError ${outcome.error.message}`];
          const problems = (await leftovers(rebooted, STORE)).map((path) => `left ${path}`);
          problems.push(...(await backupProblems(rebooted)));
          if (await rebooted.exists('/restored')) restorable++;
          return problems;
        },
      });
      expect(crashes).toBeGreaterThan(20);
      expect(restorable).toBeGreaterThan(0);
    }, widened(60_000));
  }
});

describe('a backup crashed part-way while writes go on', () => {
  it('every write acknowledged before the crash is in the store, with its value; the backup refused or exact as of its version', async () => {
    interface Writing { store: Store; acknowledged: Map<string, { value: number; version: number }> }
    let restoredBackups = 0;
    const { crashes } = await sweep<Writing>({
      image: built.image, samples: 6, seed: 34,
      prepare: async (fileSystem) => ({ store: await openStore(STORE, { fileSystem, ...OPTIONS }), acknowledged: new Map() }),
      operate: async ({ store, acknowledged }) => {
        const writes = (async () => {
          for (let index = 0; index < 40; index++) {
            const { version } = await store.put(`during-${String(index).padStart(2, '0')}`, index);
            acknowledged.set(`during-${String(index).padStart(2, '0')}`, { value: index, version });
          }
        })();
        const results = await Promise.allSettled([store.backup('/backup'), writes]);
        for (const result of results) if (result.status === 'rejected') throw result.reason;
        await store.close();
      },
      abandon: ({ store }) => store[abandonStore](),
      check: async (rebooted) => {
        const store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
        const problems: string[] = [];
        try {
          for (const k of [...built.model.keys()]) {
            if (JSON.stringify(await store.get(k)) !== JSON.stringify(modelGet(built.model, k))) problems.push(`${k} differs`);
          }
          for (let index = 0; index < 40; index++) {
            const k = `during-${String(index).padStart(2, '0')}`;
            const got = await store.get(k);
            if (got !== undefined && got !== index) problems.push(`${k}: ${JSON.stringify(got)}`);
          }
        } finally {
          await store.close();
        }
        problems.push(...(await leftovers(rebooted, STORE)).map((path) => `left ${path}`));
        return problems;
      },
      acknowledgedCheck: async (rebooted, { acknowledged }) => {
        const store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
        const problems: string[] = [];
        for (const [k, { value }] of acknowledged) if ((await store.get(k)) !== value) problems.push(`acknowledged ${k} lost`);
        await store.close();
        if (!(await rebooted.exists('/backup')) || !(await verifyBackup('/backup', { fileSystem: rebooted })).restorable) return problems;
        const { version } = await restoreBackup('/backup', '/restored', { fileSystem: rebooted });
        restoredBackups++;
        const restored = await openStore('/restored', { fileSystem: rebooted, ...OPTIONS });
        for (const k of [...built.model.keys()]) {
          if (JSON.stringify(await restored.get(k)) !== JSON.stringify(modelGet(built.model, k))) problems.push(`restored ${k} differs`);
        }
        for (const [k, written] of acknowledged) {
          const got = await restored.get(k);
          if (written.version <= version ? got !== written.value : got !== undefined) problems.push(`restored ${k} (version ${written.version}, backup ${version}): ${String(got)}`);
        }
        await restored.close();
        return problems;
      },
    });
    expect(crashes).toBeGreaterThan(16);
    expect(restoredBackups).toBeGreaterThan(0);
  }, widened(60_000));
});

describe('a restore crashed part-way', () => {
  it('leaves the target missing or empty, refused at open, or complete; never part of the data', async () => {
    const outcomes = new Map<string, number>();
    await sweep<FaultFileSystem>({
      image: backedUp, samples: 14, seed: 33, focus: atMark,
      prepare: async (fileSystem) => fileSystem,
      operate: (fileSystem) => restoreBackup('/backup', '/restored', { fileSystem }),
      abandon: () => undefined,
      check: async (rebooted) => {
        let outcome: string;
        if (!(await rebooted.exists('/restored')) || (await rebooted.readdir('/restored')).length === 0) outcome = 'missing';
        else {
          const opened = await openStore('/restored', { fileSystem: rebooted, ...OPTIONS }).catch((error: unknown) => error);
          if (opened instanceof BackupError && opened.reason === 'not-a-store') {
            // As README says: delete the cut one and restore again.
            await removeTree(rebooted, '/restored');
            await restoreBackup('/backup', '/restored', { fileSystem: rebooted });
            const problems = await restoredProblems(rebooted, '/restored');
            if (problems.length > 0) return problems.map((problem) => `restored again: ${problem}`);
            outcome = 'refused';
          }
          else if (opened instanceof Error) return [`open of the target: ${String(opened)}`];
          else {
            await (opened as Store).close();
            outcome = 'complete';
            const problems = await restoredProblems(rebooted, '/restored');
            if (problems.length > 0) return problems;
          }
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        return [];
      },
    });
    expect(outcomes.get('complete')).toBeGreaterThan(0);
    expect(outcomes.get('refused')).toBeGreaterThan(0);
  }, widened(60_000));
});
