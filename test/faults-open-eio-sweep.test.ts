/**
 * Fault review: one failed call (EIO, of each kind, at every position it takes) during
 * the open of a killed store that has work to recover: runs of three tiers (a packed
 * cold run from a compaction that raised the retention floor, flushed runs), a manifest
 * edit chain, acknowledged commits only in the WAL (over several segments), an orphan
 * run and a temporary file of a flush the kill cut. The open either fails with a typed
 * error (a LADYBUG_ code) and changes nothing a later open needs, or opens with every
 * acknowledged put exact; either way the next open without the fault has every
 * acknowledged put exact, the floor kept, and runs/ exactly the manifest's runs.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { isLadybugError } from '../src/errors.js';
import { FaultFileSystem, type FaultOperation } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

const STORE = '/db';
const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 32 * 1024 } as const;
const KEYS = 50;
const keyOf = (index: number) => `k-${String(index).padStart(3, '0')}`;
const valueOf = (index: number, round: number) => ({ index, round, text: `${round}/${index} `.padEnd(180 + (index % 9) * 25, '-') });

interface Base {
  image: FaultFileSystem;
  acked: Map<string, unknown>;
  floor: number;
}

async function buildBase(): Promise<Base> {
  const fileSystem = new FaultFileSystem(5);
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  const acked = new Map<string, unknown>();
  for (let round = 0; round < 4; round++) {
    for (let index = round; index < KEYS; index += 1 + (round % 2)) {
      await store.put(keyOf(index), valueOf(index, round));
      acked.set(keyOf(index), valueOf(index, round));
    }
    await store.checkpoint();
    if (round === 2) {
      const result = await store.compact({ retainFrom: store.version - 20 });
      expect(result.outcome).toBe('compacted');
    }
  }
  const floor = (await Manifest.inspect(fileSystem, STORE, await loadHash64())).state.retentionFloor ?? 0;
  expect(floor).toBeGreaterThan(0);
  for (let index = 0; index < KEYS; index += 3) {
    await store.put(keyOf(index), valueOf(index, 9));
    acked.set(keyOf(index), valueOf(index, 9));
  }
  store[abandonStore]();
  // What a flush the kill cut leaves: a temporary run file and an unlisted run.
  for (const name of ['0000000900.run.tmp', '0000000901.run']) {
    const handle = await fileSystem.open(`${STORE}/runs/${name}`, 'createExclusive');
    await handle.write(new Uint8Array(8192).fill(7), 0);
    await handle.close();
  }
  return { image: fileSystem.crash('keep-all'), acked, floor };
}

/** A fresh copy of the base image (every file durable), so each trial starts alike. */
async function copyOf(base: FaultFileSystem, seed: number): Promise<FaultFileSystem> {
  const copy = new FaultFileSystem(seed);
  const directories = new Set<string>();
  for (const path of base.listPaths()) {
    let directory = path.slice(0, path.lastIndexOf('/'));
    while (directory !== '') {
      directories.add(directory);
      directory = directory.slice(0, directory.lastIndexOf('/'));
    }
  }
  for (const directory of [...directories].sort()) await copy.mkdir(directory);
  for (const path of base.listPaths()) {
    const handle = await copy.open(path, 'createExclusive');
    await handle.write(await base.readFile(path), 0);
    await handle.datasync();
    await handle.close();
  }
  for (const directory of [...directories].sort().reverse()) await copy.syncDirectory(directory);
  await copy.syncDirectory('/');
  return copy;
}

async function readProblems(store: Store, acked: Map<string, unknown>): Promise<string[]> {
  const problems: string[] = [];
  for (let index = 0; index < KEYS; index++) {
    const got = await store.get(keyOf(index));
    if (JSON.stringify(got) !== JSON.stringify(acked.get(keyOf(index)))) problems.push(`${keyOf(index)}: ${JSON.stringify(got)?.slice(0, 40)}`);
  }
  let scanned = 0;
  for await (const [key, value] of store.scan()) {
    scanned++;
    if (JSON.stringify(value) !== JSON.stringify(acked.get(String(key)))) problems.push(`scan ${String(key)}`);
  }
  if (scanned !== acked.size) problems.push(`scan returned ${scanned} keys, ${acked.size} written`);
  return problems;
}

const OPERATIONS: readonly FaultOperation[] = ['read', 'readFile', 'readdir', 'open', 'write', 'datasync', 'sync', 'syncDirectory', 'truncate', 'rename', 'unlink'];

describe('one failed call during the open of a killed store with recovery to do', () => {
  it('every kind, every position: typed failure or exact, and the next open exact with no orphan', async () => {
    const base = await buildBase();
    const problems: string[] = [];
    let typedFailures = 0;
    let trials = 0;
    const perOperation = new Map<string, number>();
    for (const operation of OPERATIONS) {
      for (let nth = 1; nth < 5000 && problems.length < 10; nth++) {
        const fileSystem = await copyOf(base.image, nth);
        const fault = fileSystem.injectFault({ operation, error: 'EIO', nth });
        let store: Store | undefined;
        try {
          store = await openStore(STORE, { fileSystem, ...OPTIONS });
        } catch (error) {
          if (!isLadybugError(error)) problems.push(`${operation} #${nth}: open threw untyped ${String(error)}`);
          typedFailures++;
        }
        if (fault.triggeredCount === 0) {
          fault.remove();
          if (store !== undefined) await store.close();
          break;
        }
        trials++;
        perOperation.set(operation, (perOperation.get(operation) ?? 0) + 1);
        if (store !== undefined) {
          for (const problem of await readProblems(store, base.acked)) problems.push(`${operation} #${nth} (opened): ${problem}`);
          await store.close().catch(() => undefined);
          store[abandonStore]();
        }
        fault.remove();
        const rebooted = fileSystem.crash('drop-unsynced');
        let again: Store;
        try {
          again = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
        } catch (error) {
          problems.push(`${operation} #${nth}: the next open failed: ${String(error)}`);
          continue;
        }
        try {
          for (const problem of await readProblems(again, base.acked)) problems.push(`${operation} #${nth} (next open): ${problem}`);
          const manifest = await Manifest.inspect(rebooted, STORE, await loadHash64());
          if ((manifest.state.retentionFloor ?? 0) !== base.floor) problems.push(`${operation} #${nth}: floor ${manifest.state.retentionFloor}`);
          const listed = manifest.state.runs.map((run) => run.fileName).sort();
          const files = rebooted.listPaths().filter((path) => path.startsWith(`${STORE}/runs/`)).map((path) => path.slice(`${STORE}/runs/`.length)).sort();
          if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`${operation} #${nth}: runs/ holds ${files.join(',')}, the manifest lists ${listed.join(',')}`);
        } finally {
          await again.close();
        }
      }
    }
    expect(problems).toEqual([]);
    // 30 calls of the open fail in turn (31 while wal/ was listed twice: open-engine.ts lists it once).
    expect(trials).toBeGreaterThanOrEqual(30);
    // Every kind the open makes was failed at least once (the open reads the WAL and the manifest, writes, syncs, unlinks).
    for (const operation of ['read', 'readdir', 'open', 'write', 'datasync', 'syncDirectory', 'unlink']) expect(perOperation.get(operation), operation).toBeGreaterThan(0);
    expect(typedFailures).toBeGreaterThan(0);
  }, 600_000);
});
