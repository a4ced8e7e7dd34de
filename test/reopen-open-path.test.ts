/**
 * What a clean reopen does before it answers its first read (issue 7: open + first get
 * of a reopened 10M-key store under 50 ms). Each thread-pool round trip of the open is a
 * wait for a CPU on a busy machine, and the open runs once per process, in cold code; so
 * these tests count what the open asks of the file system and what it decodes, never time.
 *
 * - The directory lock reads the holder's file through a handle (no readFile: four round
 *   trips over the real file system) and lists the store directory twice (the highest
 *   generation before linking ours, and once after), not three times.
 * - The manifest directory is listed once; the copies it names are read without an
 *   `exists` look-up each, and neither is the directory looked up first.
 * - mergeCopies decodes a record once when both copies hold the same bytes (a clean
 *   close), twice only where they differ.
 * - The merge the policy wants at open starts its thread one event-loop turn later, so
 *   a get right after openStore answers before the Worker is made; the merge then runs
 *   and installs.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { mergeThreadsRunning, mergeWorkerBuilt } from '../src/compaction/merge-thread.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { encodeRecord, type RecordPayload, stateFormatVersion } from '../src/manifest/manifest-format.js';
import { type CopyImage, mergeCopies } from '../src/manifest/manifest-reader.js';
import { EMPTY_MANIFEST_STATE } from '../src/manifest/manifest-state.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { runDescriptor } from './manifest-helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const POLICY_DEFAULT = compactionSettings.policy;

afterEach(() => {
  compactionSettings.policy = POLICY_DEFAULT;
  removeTemporaryDirectories();
});

/** The real file system, with every path-level call counted by verb and path. */
class CountingFileSystem extends ForwardingFileSystem<NodeFileSystem> {
  readonly calls: string[] = [];
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override readFile(path: string) { this.calls.push(`readFile ${path}`); return super.readFile(path); }
  override readdir(dir: string) { this.calls.push(`readdir ${dir}`); return super.readdir(dir); }
  override exists(path: string) { this.calls.push(`exists ${path}`); return super.exists(path); }
  count(verb: string, path: (path: string) => boolean): number {
    return this.calls.filter((call) => call.startsWith(`${verb} `) && path(call.slice(verb.length + 1))).length;
  }
}

const key = (index: number): string => `key-${String(index).padStart(5, '0')}`;

/** A store of `runs` runs (each a checkpoint of 200 keys), closed cleanly. */
async function storeWithRuns(directory: string, runs: number, fileSystem?: FileSystem): Promise<void> {
  const store = await openStore(directory, fileSystem === undefined ? {} : { fileSystem });
  for (let run = 0; run < runs; run++) {
    await store.batch(Array.from({ length: 200 }, (_, offset) => ({ type: 'put' as const, key: key(run * 200 + offset), value: `value ${run * 200 + offset}` })));
    await store.checkpoint();
  }
  await store.close();
}

describe('a clean reopen asks the file system for each thing once', () => {
  it('lists the manifest directory once, looks up no copy, reads the lock without readFile, lists the store directory twice', async () => {
    const directory = temporaryDirectory();
    await storeWithRuns(directory, 2);
    const fileSystem = new CountingFileSystem(new NodeFileSystem());
    const store = await openStore(directory, { fileSystem });
    try {
      const inManifest = (path: string): boolean => path.includes('/manifest');
      expect(fileSystem.count('readdir', (path) => path.endsWith('/manifest'))).toBe(1);
      expect(fileSystem.count('exists', inManifest)).toBe(0);
      expect(fileSystem.count('readFile', (path) => path.includes('/LOCK.'))).toBe(0);
      expect(fileSystem.count('readdir', (path) => path === directory)).toBe(2);
      // The open still read what it needs: the state and every key.
      expect(store.stats().storage.runs).toBe(2);
      for (let index = 0; index < 400; index += 37) expect(await store.get(key(index))).toBe(`value ${index}`);
    } finally {
      await store.close();
    }
  });

  it('opens a store whose manifest directory is missing with runs on disk as before: refused, naming the manifest', async () => {
    const directory = temporaryDirectory();
    await storeWithRuns(directory, 1);
    const { rmSync } = await import('node:fs');
    rmSync(`${directory}/manifest`, { recursive: true });
    await expect(openStore(directory)).rejects.toMatchObject({ code: 'LADYBUG_CORRUPTION' });
  });
});

describe('mergeCopies decodes a record once when the copies agree', () => {
  it('hashes each record once for identical copies, twice where a copy differs, and merges the same chain', async () => {
    const realHash = await loadHash64();
    let hashes = 0;
    const hash = (bytes: Uint8Array): bigint => {
      hashes++;
      return realHash(bytes);
    };
    const initial = { ...EMPTY_MANIFEST_STATE, runs: [runDescriptor(1)], nextRunId: 2 };
    const state: RecordPayload = { kind: 'state', formatVersion: stateFormatVersion(initial), generation: 1, state: initial };
    const edit: RecordPayload = { kind: 'edit', edit: { addRuns: [runDescriptor(2)], nextRunId: 3 } };
    const chain = Buffer.concat([encodeRecord(1, state, realHash), encodeRecord(2, edit, realHash)]);
    const images = (b: Buffer): CopyImage[] => [
      { copy: 'a', path: '/m/a', bytes: Buffer.from(chain) },
      { copy: 'b', path: '/m/b', bytes: b },
    ];

    const same = mergeCopies(images(Buffer.from(chain)), hash);
    expect(hashes).toBe(2);
    expect(same.records.map((record) => record.sequence)).toEqual([1, 2]);
    expect(same.damagedCopies.size).toBe(0);

    hashes = 0;
    const damaged = Buffer.from(chain);
    damaged[damaged.length - 3] = (damaged[damaged.length - 3] as number) ^ 0x40; // inside the second record's payload: copy b fails its checksum there
    const repaired = mergeCopies(images(damaged), hash);
    expect(hashes).toBe(3);
    expect(repaired.records.map((record) => record.sequence)).toEqual([1, 2]);
    expect([...repaired.damagedCopies]).toEqual(['b']);
  });
});

describe("the open's merge starts its thread after the first read", () => {
  beforeAll(async () => {
    await ensureMergeWorkerBuilt();
    expect(mergeWorkerBuilt()).toBe(true);
  }, 180_000);

  it('answers a get issued right after openStore before the merge thread exists; then the merge installs', async () => {
    const directory = temporaryDirectory();
    await storeWithRuns(directory, 2); // two tier-0 runs: the tiered policy leaves them
    compactionSettings.policy = 'full'; // ...this one merges them at open
    let store: Store | undefined = await openStore(directory);
    try {
      expect(await store.get(key(250))).toBe('value 250');
      expect(mergeThreadsRunning()).toBe(0);
      expect(store.stats().storage.runs).toBe(2);
      while (store.stats().storage.runs > 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(store.stats().storage.compaction.mergeThreadExits).toBe(0);
      for (let index = 0; index < 400; index += 13) expect(await store.get(key(index))).toBe(`value ${index}`);
      await store.close();
      store = undefined;
      const reopened = await openStore(directory);
      expect(reopened.stats().storage.runs).toBe(1);
      expect(await reopened.get(key(399))).toBe('value 399');
      await reopened.close();
    } finally {
      await store?.close();
    }
  });
});
