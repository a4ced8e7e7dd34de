/**
 * Differential test of the store-wide retention floor (src/compaction/retention-floor.ts)
 * against a plain Map model: random writes, as-of gets and scans, history, checkpoints,
 * compactions with and without `retainFrom`, clean reopens and simulated crashes.
 *
 * The model keeps every version's snapshot and every key's changes. With per-key
 * retention N and floor F it predicts each read exactly:
 * - as of a version below F: VersionNotRetainedError, for every key;
 * - as of v >= F: the change visible at v answers when it is among the key's newest
 *   N changes; above F otherwise it is refused; at or below F (the change visible at
 *   F) the model allows both, never a wrong value: the floor retains nothing by itself
 *   (since 2026-12-03), so it is refused there, except a delete that a merge dropped
 *   while every reader kept it, which answers "absent" from then on (exact);
 * - history: the newest N changes, nothing older than the change visible at F, and
 *   that change not when it is a delete (beyond the newest N: listed or not, as above).
 * F is min(requested, the last checkpoint's version) (no pins are held here).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openStore, VersionNotRetainedError, type Store } from '../src/index.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';

const KEYS = ['a', 'b', 'c', 'd', 'e'];

type Command =
  | { kind: 'put'; key: string; value: number }
  | { kind: 'del'; key: string }
  | { kind: 'getAsOf'; key: string; pick: number }
  | { kind: 'scanAsOf'; pick: number }
  | { kind: 'history'; key: string }
  | { kind: 'checkpoint' }
  | { kind: 'compact'; retainPick: number | undefined }
  | { kind: 'reopen' }
  | { kind: 'crash'; mode: CrashMode };

const keyArbitrary = fc.constantFrom(...KEYS);
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: fc.integer() }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant('del' as const), key: keyArbitrary }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('getAsOf' as const), key: keyArbitrary, pick: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('scanAsOf' as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('history' as const), key: keyArbitrary }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'checkpoint' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('compact' as const), retainPick: fc.option(fc.nat(), { nil: undefined }) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'reopen' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('crash' as const), mode: fc.constantFrom<CrashMode>('drop-unsynced', 'torn-last-write', 'random-subset') }), weight: 1 },
);

interface Change {
  version: number;
  value?: number;
  deleted: boolean;
}

class FloorModel {
  readonly snapshots: Array<Map<string, number>> = [new Map()];
  readonly changes = new Map<string, Change[]>();
  floor = 0;
  /** Every version at or below this is in the runs (a checkpoint or a clean close put it there). */
  flushedVersion = 0;

  constructor(readonly maxVersionsPerKey: number) {}

  get version(): number {
    return this.snapshots.length - 1;
  }

  commit(version: number, key: string, value: number | undefined): void {
    expect(version).toBe(this.version + 1);
    const next = new Map(this.snapshots[this.version]!);
    if (value === undefined) next.delete(key);
    else next.set(key, value);
    const list = this.changes.get(key) ?? [];
    list.push(value === undefined ? { version, deleted: true } : { version, value, deleted: false });
    this.changes.set(key, list);
    this.snapshots.push(next);
  }

  /** 'refused' when the read must fail with VersionNotRetainedError, else the value (undefined: absent); `mayRefuse`: refusing is right too. */
  read(key: string, version: number): { answer: number | undefined | 'refused'; mayRefuse: boolean } {
    if (version < this.floor) return { answer: 'refused', mayRefuse: true };
    const list = this.changes.get(key) ?? [];
    const index = list.findLastIndex((change) => change.version <= version);
    if (index === -1) return { answer: undefined, mayRefuse: false };
    const newestCount = list.length - index; // this change and the newer ones
    if (newestCount <= this.maxVersionsPerKey) return { answer: this.snapshots[version]!.get(key), mayRefuse: false };
    if (list[index]!.version > this.floor) return { answer: 'refused', mayRefuse: true };
    return { answer: this.snapshots[version]!.get(key), mayRefuse: true };
  }

  /** The history, and whether the last entry of it may also be missing (a floor entry beyond the newest N). */
  history(key: string): { changes: Change[]; lastOptional: boolean } {
    const list = this.changes.get(key) ?? [];
    const floorIndex = this.floor > 0 ? list.findLastIndex((change) => change.version <= this.floor) : -1;
    const changes: Change[] = [];
    let lastOptional = false;
    for (let index = list.length - 1; index >= 0; index--) {
      const change = list[index]!;
      const isFloorEntry = index === floorIndex;
      if (index < floorIndex) break;
      if (isFloorEntry && change.deleted) break;
      if (list.length - index > this.maxVersionsPerKey) {
        if (!isFloorEntry) break;
        lastOptional = true;
      }
      changes.push(change);
    }
    return { changes, lastOptional };
  }
}

interface Harness {
  store: Store;
  fileSystem: FaultFileSystem;
}

async function readAsOf(store: Store, key: string, version: number): Promise<number | undefined | 'refused'> {
  try {
    return (await store.get(key, { asOf: version })) as number | undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(VersionNotRetainedError);
    return 'refused';
  }
}

async function scanAsOf(store: Store, version: number): Promise<Array<[unknown, unknown]> | 'refused'> {
  const entries: Array<[unknown, unknown]> = [];
  try {
    for await (const entry of store.scan({ asOf: version })) entries.push(entry);
  } catch (error) {
    expect(error).toBeInstanceOf(VersionNotRetainedError);
    return 'refused';
  }
  return entries;
}

/** The scan's answer: refused where some key must be, else the entries (or refused, where a key may be). */
function expectScan(actual: Array<[unknown, unknown]> | 'refused', model: FloorModel, version: number): void {
  const entries: Array<[unknown, unknown]> = [];
  let mayRefuse = false;
  for (const key of [...KEYS].sort()) {
    const { answer, mayRefuse: keyMayRefuse } = model.read(key, version);
    mayRefuse ||= keyMayRefuse;
    if (answer === 'refused') {
      expect(actual, `scan as of ${version}`).toBe('refused');
      return;
    }
    if (answer !== undefined) entries.push([key, answer]);
  }
  if (actual === 'refused' && mayRefuse) return;
  expect(actual, `scan as of ${version}`).toEqual(entries);
}

function expectRead(actual: number | undefined | 'refused', model: FloorModel, key: string, version: number): void {
  const { answer, mayRefuse } = model.read(key, version);
  if (actual === 'refused' && mayRefuse) return;
  expect(actual, `${key} as of ${version} (floor ${model.floor})`).toEqual(answer);
}

function expectHistory(actual: unknown, model: FloorModel, key: string): void {
  const { changes, lastOptional } = model.history(key);
  if (lastOptional && JSON.stringify(actual) === JSON.stringify(changes.slice(0, -1))) return;
  expect(actual, `history of ${key} (floor ${model.floor})`).toEqual(changes);
}

async function expectEveryRead(store: Store, model: FloorModel): Promise<void> {
  for (let version = 0; version <= model.version; version++) {
    for (const key of KEYS) expectRead(await readAsOf(store, key, version), model, key, version);
  }
  for (const key of KEYS) expectHistory(await store.history(key), model, key);
}

async function run(commands: Command[], maxVersionsPerKey: number, seed: number): Promise<void> {
  const options = { maxVersionsPerKey, segmentSizeBytes: 16 * 1024 };
  const harness: Harness = { fileSystem: new FaultFileSystem(seed), store: undefined as unknown as Store };
  harness.store = await openStore('/db', { ...options, fileSystem: harness.fileSystem });
  const model = new FloorModel(maxVersionsPerKey);
  try {
    for (const command of commands) {
      const store = harness.store;
      switch (command.kind) {
        case 'put':
          model.commit((await store.put(command.key, command.value)).version, command.key, command.value);
          break;
        case 'del':
          model.commit((await store.delete(command.key)).version, command.key, undefined);
          break;
        case 'getAsOf': {
          const version = command.pick % (model.version + 1);
          expectRead(await readAsOf(store, command.key, version), model, command.key, version);
          break;
        }
        case 'scanAsOf': {
          const version = command.pick % (model.version + 1);
          expectScan(await scanAsOf(store, version), model, version);
          break;
        }
        case 'history':
          expectHistory(await store.history(command.key), model, command.key);
          break;
        case 'checkpoint':
          await store.checkpoint();
          model.flushedVersion = model.version;
          break;
        case 'compact': {
          const retainFrom = command.retainPick === undefined ? undefined : command.retainPick % (model.version + 2);
          if (retainFrom !== undefined && retainFrom > model.version) {
            // A floor past the newest version is refused and changes nothing.
            await expect(store.compact({ retainFrom })).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
            expect((await store.compact()).retentionFloor).toBe(model.floor);
            break;
          }
          const result = await store.compact(retainFrom === undefined ? {} : { retainFrom });
          if (retainFrom !== undefined) model.floor = Math.max(model.floor, Math.min(retainFrom, model.flushedVersion));
          expect(result.retentionFloor).toBe(model.floor);
          break;
        }
        case 'reopen':
          await store.close();
          harness.store = await openStore('/db', { ...options, fileSystem: harness.fileSystem });
          model.flushedVersion = model.version; // a clean close checkpoints
          break;
        case 'crash':
          store[abandonStore]();
          harness.fileSystem = harness.fileSystem.crash(command.mode);
          harness.store = await openStore('/db', { ...options, fileSystem: harness.fileSystem });
          expect(harness.store.version).toBe(model.version);
          break;
      }
    }
    await expectEveryRead(harness.store, model);
    // And after a clean reopen: the floor is in the manifest.
    await harness.store.close();
    harness.store = await openStore('/db', { ...options, fileSystem: harness.fileSystem });
    await expectEveryRead(harness.store, model);
    // Compacting everything at the floor changes no answer at or above it.
    const result = await harness.store.compact();
    expect(result.retentionFloor).toBe(model.floor);
    await expectEveryRead(harness.store, model);
  } finally {
    await harness.store.close();
  }
}

describe('retention floor vs a Map model', () => {
  it('reads below the floor are refused for every key, at or above it answer exactly, across compactions, reopens and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArbitrary, { minLength: 5, maxLength: 50 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 3 })),
        fc.integer({ min: 1, max: 1_000_000 }),
        async (commands, maxVersionsPerKey, seed) => run(commands, maxVersionsPerKey, seed),
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
