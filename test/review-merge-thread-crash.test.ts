/**
 * Review of the merge thread (src/compaction/merge-thread.ts, merge-worker.ts,
 * merge-output.ts): a process SIGKILLed at each point of a thread merge's protocol
 * on the real file system reopens with exactly the acknowledged data, no orphan or
 * temporary file after the reopen, and a manifest that lists no missing run file.
 *
 * The points (no timing: the child kills itself at the point, from a hook):
 * - 'writing': the thread holds its merge with the temporary output open
 *   (mergeThreadTestHooks.holdNextMerge);
 * - 'renamed': the thread answered, its output is durable under its final name, the
 *   compaction's manifest edit has not started (Manifest#apply wrapped in the child);
 * - 'edited': the manifest edit is durable, the inputs' files are not unlinked yet.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const root = join(import.meta.dirname, '..');
const KEYS_PER_RUN = 3000;
const EXTRA_KEYS = 40;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

const CHILD_SCRIPT = `
const [indexPath, threadPath, manifestPath, directory, keysPerRun, extraKeys, point] = process.argv.slice(1);
const { openStore } = await import(indexPath);
const { mergeThreadTestHooks } = await import(threadPath);
const { Manifest } = await import(manifestPath);
const { readdirSync } = await import('node:fs');
const say = (line) => process.stdout.write(line + '\\n'); // a pipe: synchronous on Linux
const die = (line) => { say(line); process.kill(process.pid, 'SIGKILL'); };
const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 });
for (let round = 0; round < 3; round++) {
  for (let index = 0; index < Number(keysPerRun); index += 500) {
    const operations = [];
    for (let key = index; key < index + 500; key++) operations.push({ type: 'put', key: 'key-' + String(key).padStart(6, '0'), value: round });
    await store.batch(operations);
  }
  await store.checkpoint();
}
say('RUNS ' + readdirSync(directory + '/runs').join(','));
const apply = Manifest.prototype.apply;
Manifest.prototype.apply = async function (edit) {
  const compaction = (edit.removeRunIds ?? []).length > 0;
  if (compaction && point === 'renamed') die('AT renamed ' + readdirSync(directory + '/runs').join(','));
  await apply.call(this, edit);
  if (compaction && point === 'edited') die('AT edited ' + readdirSync(directory + '/runs').join(','));
};
mergeThreadTestHooks.holdNextMerge = point === 'writing';
const half = Number(extraKeys) / 2;
for (let extra = 0; extra < half; extra++) {
  await store.put('extra-' + extra, extra);
  say('ACK ' + extra);
}
let announced = false;
void store.compact({ onProgress: async () => {
  if (announced) return;
  announced = true;
  // Acknowledged while the thread merges: printed only once durable.
  for (let extra = half; extra < Number(extraKeys); extra++) {
    await store.put('extra-' + extra, extra);
    say('ACK ' + extra);
  }
  if (point === 'writing') die('AT writing ' + readdirSync(directory + '/runs').join(','));
} }).then(() => say('COMPACTED'), (error) => say('FAILED ' + error.message));
setInterval(() => undefined, 1000); // alive until killed
`;

interface ChildRun {
  acknowledged: number;
  filesAtKill: string[];
  inputs: string[];
  exitSignal: string | null;
  lines: string[];
}

async function runChild(directory: string, point: string): Promise<ChildRun> {
  const child = spawn(process.execPath, [
    '--input-type=module', '--eval', CHILD_SCRIPT,
    join(root, 'dist', 'src', 'index.js'), join(root, 'dist', 'src', 'compaction', 'merge-thread.js'),
    join(root, 'dist', 'src', 'manifest', 'manifest.js'), directory, String(KEYS_PER_RUN), String(EXTRA_KEYS), point,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    lines.push(...buffered.split('\n').slice(0, -1));
    buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
  });
  const exitSignal = await new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let acknowledged = -1;
  let filesAtKill: string[] = [];
  let inputs: string[] = [];
  for (const line of lines) {
    if (line.startsWith('ACK ')) acknowledged = Number(line.slice(4));
    if (line.startsWith('AT ')) filesAtKill = line.split(' ')[2]!.split(',');
    if (line.startsWith('RUNS ')) inputs = line.slice(5).split(',');
  }
  return { acknowledged, filesAtKill, inputs, exitSignal, lines };
}

describe('a process SIGKILLed at each point of a thread merge', () => {
  for (const point of ['writing', 'renamed', 'edited'] as const) {
    it(`'${point}': reopens with exactly the acknowledged data, no orphan or temporary file, every listed run present`, async () => {
      const directory = temporaryDirectory();
      const child = await runChild(directory, point);
      expect(child.exitSignal, child.lines.join('\n')).toBe('SIGKILL');
      expect(child.lines.some((line) => line.startsWith(`AT ${point}`)), child.lines.join('\n')).toBe(true);
      // Half the extra keys were acknowledged before the compaction; the rest while the
      // thread merged (all of them when it held its merge; maybe none before the later points).
      if (point === 'writing') expect(child.acknowledged).toBe(EXTRA_KEYS - 1);
      else expect(child.acknowledged).toBeGreaterThanOrEqual(EXTRA_KEYS / 2 - 1);
      expect(child.inputs).toHaveLength(3);
      // The point was reached with the files it names.
      const extraFiles = child.filesAtKill.filter((name) => !child.inputs.includes(name));
      if (point === 'writing') expect(extraFiles.some((name) => name.endsWith('.run.tmp'))).toBe(true);
      if (point === 'renamed') {
        expect(extraFiles.filter((name) => name.endsWith('.run'))).toHaveLength(1); // the output, not listed yet
        expect(child.inputs.every((name) => child.filesAtKill.includes(name))).toBe(true);
      }
      if (point === 'edited') expect(child.inputs.every((name) => child.filesAtKill.includes(name))).toBe(true); // not unlinked yet

      compactionSettings.mergeThread = 'main'; // no merge at open: the files seen are what open left
      const reopened = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 });
      for (let index = 0; index < KEYS_PER_RUN; index += 7) expect(await reopened.get(`key-${String(index).padStart(6, '0')}`)).toBe(2);
      for (let extra = 0; extra <= child.acknowledged; extra++) expect(await reopened.get(`extra-${extra}`)).toBe(extra);
      let scanned = 0;
      for await (const _entry of reopened.scan()) scanned++; // reads every listed run
      expect(scanned).toBeGreaterThanOrEqual(KEYS_PER_RUN + child.acknowledged + 1);
      expect(scanned).toBeLessThanOrEqual(KEYS_PER_RUN + child.acknowledged + 2); // at most the put in flight
      const files = readdirSync(join(directory, 'runs')).sort();
      expect(files.every((name) => name.endsWith('.run'))).toBe(true);
      expect(files).toHaveLength(reopened.stats().storage.runs); // no orphan; no listed run missing (open would fail)
      if (point === 'edited') expect(files.some((name) => child.inputs.includes(name))).toBe(false); // installed: inputs gone
      if (point !== 'edited') expect(child.inputs.every((name) => files.includes(name))).toBe(true); // not installed: inputs stay
      await reopened.close();
    }, 120_000);
  }
});
