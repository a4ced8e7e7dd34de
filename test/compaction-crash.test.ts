/**
 * Crash sweeps over a compaction (issue 8): for every file-system operation of a
 * store.compact() call and every crash mode, the machine dies after that many
 * operations (the compaction, then the close that deletes the replaced runs); the store reopens, holds exactly the acknowledged data (the newest
 * value of every key; as-of reads right or refused, never wrong), and leaves no
 * orphan: runs/ lists exactly the manifest's runs, no temporary file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { versionTimeSettings } from '../src/compaction/version-times.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: true, maxVersionsPerKey: 1 };
const KEYS = 40;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
/** With retention by age: the compaction writes versionTimes in its manifest edit (the clock is injected). */
const RETAINING = { ...OPTIONS, retainVersionsMs: 1000 };
type Options = typeof OPTIONS | typeof RETAINING;
let clockMs = 0;

/** Three runs with overwrites and deletes; returns the newest value per key and every version's value. */
async function buildBase(seed: number, options: Options = OPTIONS): Promise<{ fileSystem: FaultFileSystem; history: Map<string, Array<[number, unknown]>> }> {
  clockMs = 1_000_000;
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(DIRECTORY, { fileSystem, ...options });
  const history = new Map<string, Array<[number, unknown]>>();
  const note = (key: string, value: unknown) => history.set(key, [...(history.get(key) ?? []), [store.version, value]]);
  for (let round = 0; round < 3; round++) {
    for (let index = round; index < KEYS; index += 1 + round) {
      await store.put(`k${index}`, { round, index });
      note(`k${index}`, { round, index });
    }
    for (let index = round; index < KEYS; index += 7) {
      await store.delete(`k${index}`);
      note(`k${index}`, undefined);
    }
    await store.checkpoint();
    clockMs += 600; // rounds 600 ms apart: with retainVersionsMs 1000 the first round leaves the window
  }
  await store.close();
  return { fileSystem, history };
}

function valueAt(history: Array<[number, unknown]> | undefined, version: number): unknown {
  let found: unknown;
  for (const [at, value] of history ?? []) if (at <= version) found = value;
  return found;
}

async function problemsAfterReopen(fileSystem: FaultFileSystem, history: Map<string, Array<[number, unknown]>>, options: Options = OPTIONS): Promise<string[]> {
  const problems: string[] = [];
  const paths = fileSystem.listPaths();
  const store: Store = await openStore(DIRECTORY, { fileSystem, ...options });
  // What the open left behind: nothing but the manifest's runs.
  const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
  const listed = manifest.state.runs.map((run) => run.fileName).sort();
  const files = fileSystem.listPaths().filter((path) => path.startsWith(`${RUNS}/`)).map((path) => path.slice(RUNS.length + 1)).sort();
  if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`runs/ holds ${files.join(',')} but the manifest lists ${listed.join(',')} (before open: ${paths.join(',')})`);
  for (let index = 0; index < KEYS; index++) {
    const key = `k${index}`;
    const got = await store.get(key);
    const expected = valueAt(history.get(key), store.version);
    if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`${key}: ${JSON.stringify(got)} instead of ${JSON.stringify(expected)}`);
    for (let version = 0; version <= store.version; version += 5) {
      try {
        const old = await store.get(key, { asOf: version });
        const want = valueAt(history.get(key), version);
        if (JSON.stringify(old) !== JSON.stringify(want)) problems.push(`${key} as of ${version}: ${JSON.stringify(old)} instead of ${JSON.stringify(want)}`);
      } catch (error) {
        if (!(error instanceof VersionNotRetainedError)) throw error;
      }
    }
  }
  await store.put('after', 1);
  await store.close();
  return problems;
}

describe('compaction crash sweep', () => {
  afterEach(() => {
    versionTimeSettings.nowMs = () => Date.now();
  });

  for (const [name, options] of [['maxVersionsPerKey 1', OPTIONS], ['maxVersionsPerKey 1 and retainVersionsMs', RETAINING]] as const) {
    it(`every operation of a compaction, every crash mode: exact data, no orphan run (${name})`, async () => {
      versionTimeSettings.nowMs = () => clockMs;
      // How many file-system operations one compaction makes on this base.
      const measured = await buildBase(1, options);
      const store = await openStore(DIRECTORY, { fileSystem: measured.fileSystem, ...options });
      const before = measured.fileSystem.operationCount;
      const result = await store.compact();
      expect(result.outcome).toBe('compacted');
      expect(result.entriesDropped).toBeGreaterThan(0);
      // The close deletes the replaced runs: the sweep covers those unlinks too.
      await store.close();
      const operations = measured.fileSystem.operationCount - before;
      expect(operations).toBeGreaterThan(5);
      if (options === RETAINING) {
        const manifest = await Manifest.inspect(measured.fileSystem, DIRECTORY, await loadHash64());
        expect(manifest.state.versionTimes?.length, 'the compaction persisted its samples').toBeGreaterThan(0);
      }

      let swept = 0;
      for (const mode of MODES) {
        for (let k = 0; k <= operations; k++) {
          const { fileSystem, history } = await buildBase(1, options);
          const victim = await openStore(DIRECTORY, { fileSystem, ...options });
          fileSystem.crashAfterOperations(k);
          await victim.compact().catch(() => undefined);
          await victim.close().catch(() => undefined);
          victim[abandonStore]();
          const rebooted = fileSystem.crash(mode);
          const problems = await problemsAfterReopen(rebooted, history, options);
          expect(problems, `crash after ${k} operations (${mode})`).toEqual([]);
          swept++;
        }
      }
      expect(swept).toBe(MODES.length * (operations + 1));
    }, 240_000);
  }
});
