/**
 * Fault review: a real process SIGKILLed while it writes and takes online backups
 * (test/support/backup-kill-child.ts: puts of new keys one after another and, beside
 * them, backups one after another, hard-linked and copied by turn, on the real disk,
 * with flushes and background compactions running). Killed at seeded random moments,
 * six times on one store:
 * - the store reopens with every put the child reported acknowledged; once it is closed,
 *   runs/ holds exactly the manifest's runs and no temporary file;
 * - every backup the child reported finished verifies and restores to a store at its
 *   version holding every acknowledged put at or below it and nothing above it;
 * - a backup cut by the kill is refused by restore (BackupError, nothing written), or,
 *   if it verifies, restores exactly so too.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BackupError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { type BackupKillReport, valueOfKey } from './support/backup-kill-child.js';

afterEach(removeTemporaryDirectories);

const CYCLES = 6;

let childPath = '';

beforeAll(async () => {
  const cacheDirectory = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));
  mkdirSync(cacheDirectory, { recursive: true });
  const outDirectory = mkdtempSync(join(cacheDirectory, 'ladybug-backup-kill-child-'));
  childPath = join(outDirectory, 'backup-kill-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./support/backup-kill-child.ts', import.meta.url))],
    bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: childPath, logLevel: 'error',
  });
}, 60_000);

afterAll(() => rmSync(dirname(childPath), { recursive: true, force: true }));

interface ChildRun {
  acked: Map<string, number>;
  started: string[];
  done: Map<string, number>;
  exitSignal: NodeJS.Signals | null;
}

async function runAndKill(directory: string, backups: string, cycle: number, runMs: number): Promise<ChildRun> {
  const child: ChildProcess = fork(childPath, [directory, backups, String(cycle)], { execArgv: [], env: { ...process.env, LADYBUG_BACKUP_KILL_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const run: ChildRun = { acked: new Map(), started: [], done: new Map(), exitSignal: null };
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { readyResolve = resolve; });
  child.on('message', (report: BackupKillReport) => {
    if (report.type === 'ready') readyResolve();
    else if (report.type === 'ack') run.acked.set(report.key, report.version);
    else if (report.type === 'backup-start') run.started.push(report.directory);
    else run.done.set(report.directory, report.version);
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await Promise.race([ready, exited]);
  await sleep(runMs);
  child.kill('SIGKILL');
  run.exitSignal = await exited;
  return run;
}

async function keysOf(store: Store): Promise<Map<string, unknown>> {
  const entries = new Map<string, unknown>();
  for await (const [key, value] of store.scan()) entries.set(String(key), value);
  return entries;
}

/** Problems of the restored copy of a backup at `version`, against every acknowledged put. */
async function restoredProblems(backup: string, version: number, acked: Map<string, number>): Promise<string[]> {
  const problems: string[] = [];
  const target = join(temporaryDirectory(), 'restored');
  await restoreBackup(new NodeFileSystem(), backup, target);
  const restored = await openStore(target);
  try {
    if (restored.version !== version) problems.push(`${backup}: restored version ${restored.version}, backup version ${version}`);
    const entries = await keysOf(restored);
    for (const [key, at] of acked) {
      if (at <= version && JSON.stringify(entries.get(key)) !== JSON.stringify(valueOfKey(key))) problems.push(`${backup} (v${version}): ${key}@${at} missing`);
      if (at > version && entries.has(key)) problems.push(`${backup} (v${version}): ${key}@${at} present`);
    }
    for (const [key, value] of entries) if (JSON.stringify(value) !== JSON.stringify(valueOfKey(key))) problems.push(`${backup}: ${key} holds another value`);
  } finally {
    await restored.close();
  }
  return problems;
}

describe('SIGKILL of a process writing and taking backups', () => {
  it('six kills: the store has every acknowledged put and no orphan; finished backups restore exactly; cut ones are refused or exact', async () => {
    const directory = temporaryDirectory();
    const backups = temporaryDirectory();
    const random = new SeededRandom(2027);
    const acked = new Map<string, number>();
    const problems: string[] = [];
    let finished = 0;
    let cut = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const run = await runAndKill(directory, backups, cycle, random.nextIntInclusive(400, 1500));
      expect(run.exitSignal).toBe('SIGKILL');
      for (const [key, version] of run.acked) acked.set(key, version);
      const store = await openStore(directory);
      try {
        const entries = await keysOf(store);
        for (const [key, version] of acked) if (JSON.stringify(entries.get(key)) !== JSON.stringify(valueOfKey(key))) problems.push(`store: ${key}@${version} lost`);
      } finally {
        await store.close();
      }
      // At rest, after the close: while the store is open, the flush of its replayed memtable and
      // the merge that starts at open write their runs under temporary names (the CI pre-check of
      // ae47f7b listed such a .tmp beside an open store). An orphan of the kill that the open failed
      // to remove would still be here.
      const manifest = await Manifest.inspect(new NodeFileSystem(), directory, await loadHash64());
      const listed = manifest.state.runs.map((run) => run.fileName).sort();
      const files = readdirSync(join(directory, 'runs')).sort();
      if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`cycle ${cycle}: runs/ holds ${files.join(',')}, the manifest lists ${listed.join(',')}`);
      for (const backup of run.started) {
        const doneVersion = run.done.get(backup);
        const report = await verifyBackup(new NodeFileSystem(), backup);
        if (doneVersion !== undefined) {
          finished++;
          if (!report.ok) problems.push(`${backup} finished but does not verify: ${JSON.stringify(report.problems)}`);
          else problems.push(...(await restoredProblems(backup, doneVersion, acked)));
        } else if (report.ok) {
          problems.push(...(await restoredProblems(backup, report.version!, acked)));
        } else {
          cut++;
          const target = join(temporaryDirectory(), 'refused');
          const error = await restoreBackup(new NodeFileSystem(), backup, target).then(() => undefined, (caught: unknown) => caught);
          if (!(error instanceof BackupError)) problems.push(`${backup}: cut backup restore gave ${String(error)}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(acked.size).toBeGreaterThan(50);
    expect(finished).toBeGreaterThan(0);
    expect(cut).toBeGreaterThan(0);
  }, 300_000);
});
