/**
 * Seed race 7 (epoch read before the lock, slot drained meanwhile) at every microtask
 * offset around an apply. A snapshot, a transaction and a scan read the visible
 * version, capture their view and pin the version in one synchronous step (the
 * `readPins` row of LOCK_ORDER.md). Here the apply of two overwrites (retention 1:
 * the apply trims every version no pin spares) is released from a held WAL datasync,
 * and the reader starts `offset` microtasks later, for every offset from before the
 * apply to after it. Whatever version the reader got, it must read that
 * version's value: a reader that read the version just before the apply and pinned
 * it a microtask later would find it trimmed (VersionNotRetained) or read the newer
 * value.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const VALUE_AT = new Map<number, string>([[1, 'old'], [2, 'new-1'], [3, 'new-2']]);
/** Microtask offsets tried after the release (the apply lands about 6 microtasks after it, on the fault file system). */
const MICROTASKS = 24;

type Reader = (store: Store) => Promise<{ version: number; read: () => Promise<unknown>; end: () => Promise<void> }>;

const READERS: Record<string, Reader> = {
  snapshot: async (store) => {
    const snapshot = await store.snapshot();
    return { version: snapshot.version, read: () => snapshot.get('k'), end: () => snapshot.release() };
  },
  transaction: async (store) => {
    let version = 0;
    let read: () => Promise<unknown> = async () => undefined;
    let end: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      end = resolve;
    });
    let begin: () => void = () => {};
    const begun = new Promise<void>((resolve) => {
      begin = resolve;
    });
    const transaction = store.transaction(async (tx) => {
      version = tx.readVersion;
      begin();
      let answer: Promise<unknown> | undefined;
      read = () => (answer ??= tx.get('k'));
      await finished;
      await answer;
    }, { retries: 0 });
    await begun;
    return { version, read, end: async () => {
      end();
      await transaction.catch(() => undefined);
    } };
  },
  scan: async (store) => {
    const iterator = store.scan()[Symbol.asyncIterator]();
    let first: Promise<IteratorResult<[unknown, unknown]>> | undefined;
    const step = () => (first ??= iterator.next() as Promise<IteratorResult<[unknown, unknown]>>);
    return {
      version: -1,
      read: async () => {
        const result = await step();
        return result.done === true ? undefined : result.value[1];
      },
      end: async () => {
        await iterator.return?.();
      },
    };
  },
};

async function oneOffset(reader: Reader, microtasks: number, seed: number): Promise<{ version: number; value: unknown }> {
  const gated = new GatedFileSystem(new FaultFileSystem(seed));
  const store = await openStore('/db', { fileSystem: gated, maxVersionsPerKey: 1, segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 });
  try {
    await store.put('k', 'old');
    gated.armed = true;
    // One tick: one group, one record, applied in one step after its datasync.
    const overwrites = Promise.all([store.put('k', 'new-1'), store.put('k', 'new-2')]);
    const held = await gated.nextHeld();
    gated.armed = false;
    held.release();
    for (let hop = 0; hop < microtasks; hop++) await Promise.resolve();
    const versionBefore = store.version;
    const started = await reader(store);
    // The scan reports no version: it read the one visible when it was made.
    const version = started.version >= 0 ? started.version : versionBefore;
    await overwrites;
    let value: unknown;
    try {
      value = await started.read();
    } catch (error) {
      value = error instanceof Error ? `${error.name}: ${(error as { code?: string }).code ?? error.message}` : String(error);
    }
    await started.end();
    return { version, value };
  } finally {
    await store.close();
  }
}

describe('seed race 7: reading the version and pinning it are one step, at every microtask offset around an apply', () => {
  for (const [name, reader] of Object.entries(READERS)) {
    it(`${name}: started at each offset, it reads the value of the version it got`, async () => {
      const seen = new Set<number>();
      const wrong: string[] = [];
      for (let microtasks = 0; microtasks < MICROTASKS; microtasks++) {
        const { version, value } = await oneOffset(reader, microtasks, 700 + microtasks);
        seen.add(version);
        if (value !== VALUE_AT.get(version)) wrong.push(`${microtasks} microtasks after the release: version ${version} read ${String(value)}`);
      }
      expect(wrong).toEqual([]);
      // The sweep spans the apply: some readers started before it, some after.
      expect([...seen].sort()).toEqual([1, 3]);
    });
  }
});
