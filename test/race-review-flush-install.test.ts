/**
 * Seed races 6 and 8 at the flush's install: the run becomes visible and the memtable
 * it came from is retired in one synchronous step (the `flush` row of LOCK_ORDER.md).
 * Were the two split across an await (the seed's two maps updated separately), a
 * reader arriving in between would find the keys in neither the memtables nor the
 * runs. The retirement is hooked: at that moment, and at the next microtask and the
 * next turn, a view taken then (engine level) and a store.get() started then must
 * still find every key, and no view may lack the flushed versions.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readStored } from '../src/codec/values.js';
import type { ReadView } from '../src/engine/read-view.js';
import { Memtables } from '../src/engine/memtables.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { settle } from './transaction-support.js';
import { openBareEngine as openEngine } from './support/bare-engine.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const retireOldest = Memtables.prototype.retireOldest;

/** Runs `atRetirement` right after each retirement of a flushed memtable (in the install's synchronous step). */
function onRetirement(atRetirement: () => void): void {
  vi.spyOn(Memtables.prototype, 'retireOldest').mockImplementation(function (this: Memtables, sealed) {
    const release = retireOldest.call(this, sealed);
    atRetirement();
    return release;
  });
}

const KEYS = 40;
const key = (index: number) => `key-${String(index).padStart(3, '0')}`;

/** Versions 1..n a view can answer: from a memtable holding them or a run covering them. */
function coveredVersions(view: ReadView, lastVersion: number): number[] {
  const covered: number[] = [];
  for (let version = 1; version <= lastVersion; version++) {
    const inRun = view.runs.some((run) => run.descriptor.minVersion <= version && version <= run.descriptor.maxVersion);
    const inMemtable = view.memtables.some((memtable) => memtable.slotAsOf(key(version - 1), version) !== undefined);
    if (inRun || inMemtable) covered.push(version);
  }
  return covered;
}

async function valueAt(view: ReadView, name: string, version: number): Promise<unknown> {
  const slot = await view.slotAsOf(name, { version, referenceVersion: version, pinFloor: Infinity });
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}

describe('seed races 6 and 8: the install makes the run visible and retires its memtable in one step', () => {
  it('a view taken when the memtable is retired, a microtask later or a turn later still holds every flushed key', async () => {
    const engine = await openEngine(new FaultFileSystem(608));
    for (let version = 1; version <= KEYS; version++) engine.apply(version, [{ key: key(version - 1), slot: `value ${version}` }], Infinity);
    const views: Array<{ when: string; view: ReadView }> = [];
    let retirements = 0;
    onRetirement(() => {
      retirements++;
      views.push({ when: 'at the retirement', view: engine.view() });
      queueMicrotask(() => views.push({ when: 'a microtask later', view: engine.view() }));
      setImmediate(() => views.push({ when: 'a turn later', view: engine.view() }));
    });
    await engine.checkpoint();
    await settle();
    expect(retirements).toBe(1);
    expect(views.map((entry) => entry.when)).toEqual(['at the retirement', 'a microtask later', 'a turn later']);
    const all = Array.from({ length: KEYS }, (_, index) => index + 1);
    for (const { when, view } of views) {
      expect({ when, covered: coveredVersions(view, KEYS) }).toEqual({ when, covered: all });
      const values = await Promise.all(all.map((version) => valueAt(view, key(version - 1), KEYS)));
      expect({ when, values }).toEqual({ when, values: all.map((version) => `value ${version}`) });
    }
    expect(engine.runSet.runs).toHaveLength(1);
    expect(engine.memtables.immutableCount).toBe(0);
    await engine.close();
  });

  it('store.get() calls started when the memtable is retired, and a microtask later, answer every key', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(609), segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 });
    for (let index = 0; index < KEYS; index++) await store.put(key(index), `value ${index}`);
    const reads: Array<{ when: string; values: Promise<unknown[]> }> = [];
    const readAll = () => Promise.all(Array.from({ length: KEYS }, (_, index) => store.get(key(index))));
    onRetirement(() => {
      reads.push({ when: 'at the retirement', values: readAll() });
      queueMicrotask(() => reads.push({ when: 'a microtask later', values: readAll() }));
    });
    await store.checkpoint();
    await settle();
    expect(reads.map((read) => read.when)).toEqual(['at the retirement', 'a microtask later']);
    const expected = Array.from({ length: KEYS }, (_, index) => `value ${index}`);
    for (const read of reads) expect({ when: read.when, values: await read.values }).toEqual({ when: read.when, values: expected });
    expect(store.stats().storage).toMatchObject({ runs: 1, immutableMemtables: 0 });
    await store.close();
  });
});

