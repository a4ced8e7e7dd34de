/**
 * CLI review: the built `ladybug` command driven as a user and a script drive it, over a
 * seeded random sequence of commands (good and bad arguments, with and without --json)
 * and damages (a flipped byte in a run or the WAL, a truncated manifest copy or both, a
 * missing run file, manifest/ gone, wal/ a file), a store held by a live process, and
 * backups made, checked and restored. After every command:
 * - the exit status is a documented one (0; 1 a failure or findings; 2 a bad argument;
 *   3 only from verify of a backup), never a stack trace; a command that fails says so
 *   in one line on stderr, and a failure of the work carries the typed error's code;
 * - --json prints JSON on stdout and nothing else (dump and watch: one object per line);
 * - verify and repair --dry-run write nothing and agree; a bad argument (an unknown option,
 *   a missing or extra argument, a malformed number, a key or lease name the store refuses,
 *   a file or a missing directory for a store), and a store locked by another process,
 *   change no byte (a version past the newest is only found once the store is open);
 * - a command that fails removes none of the store's run files (its close may checkpoint the WAL);
 * - on an undamaged copy, what get, history, dump, watch and stats print is the model
 *   (the command line writes no key, so it never changes), verify passes, and a restored
 *   backup holds the model; verify of a backup that says 3 restores, one that says 1 is refused.
 * Seeds from CLI_REVIEW_SEEDS (default "2,6": with the fixes of a7d3f3a and 23958b2
 * reverted, seed 6 fails at step 17 and seed 2 at step 19), steps per seed from CLI_REVIEW_STEPS (20).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, type CliResult, ladybug } from './support/cli-runner.js';
import { mulberry32 } from './transaction-support.js';
import { seedList } from './model-sequences.js';
import { errorLines, treeBytes } from './cli-review-support.js';
import {
  applyDamage, CERTAIN_DAMAGES, DAMAGES, type Damage, dataFiles, holdStore, makePristineStore, type Model,
} from './cli-review-world.js';

const SEEDS = seedList(process.env.CLI_REVIEW_SEEDS ?? '2,6');
const STEPS = Number(process.env.CLI_REVIEW_STEPS ?? 20);

const COMMANDS = ['stats', 'get', 'history', 'dump', 'leases', 'watch', 'verify', 'scrub', 'compact', 'repair', 'backup', 'restore', 'verifyBackup', 'unlock'] as const;
type CommandName = typeof COMMANDS[number];
/** The commands that take a store (a held one refuses them all). */
const LOCKABLE: readonly CommandName[] = COMMANDS.filter((command) => command !== 'restore' && command !== 'verifyBackup');
const BAD = ['unknownOption', 'extraArgument', 'missingArgument', 'badNumber', 'badKey', 'fileAsDirectory', 'missingDirectory', 'pastVersion'] as const;
type Bad = typeof BAD[number];

type Step =
  | { kind: 'damage'; damage: Damage; r: number[] }
  | { kind: 'reset' }
  | { kind: 'command'; command: CommandName; json: boolean; bad: Bad | undefined; r: number[] }
  | { kind: 'locked'; commands: CommandName[]; r: number[] };

function generateSteps(random: () => number, count: number): Step[] {
  const numbers = (): number[] => Array.from({ length: 6 }, random);
  const steps: Step[] = [];
  for (let index = 0; index < count; index++) {
    const roll = random();
    if (roll < 0.18) steps.push({ kind: 'damage', damage: DAMAGES[Math.floor(random() * DAMAGES.length)]!, r: numbers() });
    else if (roll < 0.25) steps.push({ kind: 'reset' });
    else if (roll < 0.29) steps.push({ kind: 'locked', commands: [LOCKABLE[Math.floor(random() * LOCKABLE.length)]!, LOCKABLE[Math.floor(random() * LOCKABLE.length)]!], r: numbers() });
    else {
      const command = COMMANDS[Math.floor(random() * COMMANDS.length)]!;
      const bad = random() < 0.25 ? BAD[Math.floor(random() * BAD.length)] : undefined;
      steps.push({ kind: 'command', command, json: random() < 0.6, bad, r: numbers() });
    }
  }
  return steps;
}

interface Backup {
  directory: string;
  /** Made from an undamaged copy, with --copy (shares no bytes with the store), and never damaged since. */
  holdsModel: boolean;
}

interface World {
  model: Model;
  pristine: string;
  work: string;
  scratch: string;
  /** What was done to the working copy since the last reset (empty: it holds the model). */
  damages: Damage[];
  /** A compaction since the last reset dropped versions (--max-versions-per-key, --retain-from): a watch from before them is refused. */
  historyTrimmed: boolean;
  backups: Backup[];
  counter: number;
  aFile: string;
}

/** What one command line is, and what the test knows of it before running it. */
interface Invocation {
  args: string[];
  /** A usage error caught before the store is opened: exit 2, no byte changed. */
  refusedBeforeOpen: boolean;
  /** A usage error found once the store is open (a version past its newest). */
  refusedAfterOpen: boolean;
  target?: string;
  backup?: Backup;
}

const fresh = (world: World, name: string): string => join(world.scratch, `${name}-${++world.counter}`);
const choose = <T>(list: readonly T[], at: number): T => list[Math.floor(at * list.length)]!;

/** The command line for `command` (bad or not), its choices from r. */
function invocation(world: World, command: CommandName, json: boolean, bad: Bad | undefined, r: readonly number[]): Invocation {
  const { model, work } = world;
  const entry = choose(model.entries, r[0]!);
  const liveVersion = String(model.version);
  let dir = work;
  if (bad === 'fileAsDirectory') dir = world.aFile;
  if (bad === 'missingDirectory') dir = join(world.scratch, 'no-such-directory');
  let positionals: string[];
  let options: string[] = [];
  let numeric: string | undefined; // an option taking a number, for badNumber and pastVersion
  const backup = world.backups.length === 0 ? undefined : choose(world.backups, r[1]!);
  let target: string | undefined;
  switch (command) {
    case 'stats': case 'leases': case 'verify': case 'repair':
      positionals = [dir];
      if (command === 'repair' && r[2]! < 0.5) options = ['--dry-run'];
      break;
    case 'get':
      positionals = [dir, entry.argument[0]!];
      options = [...entry.argument.slice(1), ...(r[2]! < 0.5 ? ['--as-of', liveVersion] : [])];
      numeric = '--as-of';
      break;
    case 'history':
      positionals = [dir, entry.argument[0]!];
      options = [...entry.argument.slice(1), ...(r[2]! < 0.5 ? ['--limit', String(1 + Math.floor(r[3]! * 3))] : [])];
      numeric = '--limit';
      break;
    case 'dump':
      positionals = [dir];
      options = r[2]! < 0.4 ? ['--limit', String(Math.floor(r[3]! * 40))] : [];
      numeric = r[2]! < 0.7 ? '--limit' : '--as-of';
      break;
    case 'watch':
      positionals = [dir];
      options = r[2]! < 0.5 ? ['--since', String(Math.floor(r[3]! * model.version))] : [];
      numeric = '--since';
      break;
    case 'scrub':
      positionals = [dir];
      options = r[2]! < 0.3 ? ['--bytes-per-second', String(64 * 1024 * 1024)] : [];
      numeric = '--bytes-per-second';
      break;
    case 'compact':
      positionals = [dir];
      options = r[2]! < 0.3 ? ['--max-versions-per-key', String(1 + Math.floor(r[3]! * 3))] : [];
      numeric = r[4]! < 0.5 ? '--retain-from' : '--max-versions-per-key';
      break;
    case 'backup':
      target = fresh(world, 'backup');
      // fileAsDirectory: the target is the file (the store is there).
      positionals = bad === 'fileAsDirectory' ? [work, world.aFile] : [dir, target];
      options = r[2]! < 0.5 ? ['--copy'] : [];
      break;
    case 'restore':
      target = fresh(world, 'restored');
      positionals = [backup?.directory ?? join(world.scratch, 'no-backup-yet'), target];
      if (bad === 'fileAsDirectory') positionals[0] = world.aFile;
      if (bad === 'missingDirectory') positionals[0] = join(world.scratch, 'no-such-backup');
      break;
    case 'verifyBackup':
      positionals = [backup?.directory ?? join(world.scratch, 'no-backup-yet')];
      if (bad === 'fileAsDirectory') positionals[0] = world.aFile;
      if (bad === 'missingDirectory') positionals[0] = join(world.scratch, 'no-such-backup');
      break;
    case 'unlock':
      positionals = [dir];
      options = ['--force'];
      break;
  }
  const name = command === 'verifyBackup' ? 'verify' : command;
  let args = [name, ...positionals, ...options];
  let refusedBeforeOpen = bad !== undefined && bad !== 'pastVersion';
  let refusedAfterOpen = false;
  if (bad === 'unknownOption') args.push('--no-such-option');
  if (bad === 'extraArgument') args.push('extra-argument');
  if (bad === 'missingArgument') args = [name];
  if (bad === 'badNumber') {
    // Every numeric option takes decimal digits only (a rate too: 0x10 and 1e3 are refused); a rate is also at least 1.
    const refused = ['-1', 'abc', '1.5', '', ' ', '1e3', '0x10', '99999999999999999999', ...(numeric === '--bytes-per-second' ? ['0'] : [])];
    if (numeric === undefined) args.push('--no-such-option');
    else args.push(numeric, choose(refused, r[5]!));
  }
  if (bad === 'badKey') {
    const key = r[5]! < 0.5 ? '' : 'x'.repeat(1025);
    if (command === 'get' || command === 'history') args = [name, dir, key, ...options.filter((option) => option !== '--hex')];
    else if (command === 'dump') args.push(r[4]! < 0.5 ? '--gte' : '--lt', key);
    else if (command === 'leases') args.push('status', r[5]! < 0.5 ? '' : 'n'.repeat(257));
    else args.push('--no-such-option');
  }
  let good = bad === undefined;
  if (bad === 'pastVersion') {
    const past = ['--as-of', '--since', '--retain-from'].includes(numeric ?? '') ? numeric : undefined;
    if (past === undefined) good = true; // nothing to put past: a good command
    else {
      args.push(past, String(model.version + 1 + Math.floor(r[5]! * 1000)));
      refusedAfterOpen = true;
    }
  }
  if ((command === 'restore' || command === 'verifyBackup') && backup === undefined && good) refusedBeforeOpen = true; // no backup at that path
  if (json) args.push('--json');
  return { args, refusedBeforeOpen, refusedAfterOpen, target, backup: good ? backup : undefined };
}

/** The checks every command's result passes, whatever the state. */
function checkCommon(args: string[], result: CliResult, json: boolean): void {
  const what = `ladybug ${args.join(' ')} -> ${result.code}\n${result.stderr}${result.stdout.slice(0, 400)}`;
  expect([0, 1, 2, 3], what).toContain(result.code);
  if (result.code === 3) expect(args[0], what).toBe('verify');
  expect(result.stderr, what).not.toMatch(/^\s+at /m);
  const lines = errorLines(result.stderr);
  if (result.code === 0) expect(lines, what).toEqual([]);
  if (result.code !== 0 && result.stdout === '') {
    expect(lines, what).toHaveLength(1);
    expect(lines[0], what).toMatch(/^ladybug: /);
    if (result.code === 1) expect(lines[0], what).toMatch(/^ladybug: .+ \[LADYBUG_[A-Z_]+\]$/);
  }
  if (result.code === 2) expect(result.stdout, what).toBe('');
  if (json && result.stdout !== '') {
    const streamed = args[0] === 'dump' || args[0] === 'watch';
    const documents = streamed ? result.stdout.split('\n').filter((line) => line !== '') : [result.stdout];
    for (const document of documents) expect(() => JSON.parse(document), what).not.toThrow();
  }
}

/** On an undamaged copy: what the command printed is the model. */
async function checkAgainstModel(world: World, command: CommandName, call: Invocation, result: CliResult): Promise<void> {
  const { model } = world;
  const what = `ladybug ${call.args.join(' ')} -> ${result.code}\n${result.stderr}${result.stdout.slice(0, 400)}`;
  if (!(command === 'watch' && world.historyTrimmed)) expect(result.code, what).toBe(0);
  const json = call.args.includes('--json');
  const entry = model.entries.find((candidate) => candidate.argument[0] === call.args[2]);
  switch (command) {
    case 'stats':
      if (json) expect((JSON.parse(result.stdout) as { version: number }).version, what).toBe(model.version);
      break;
    case 'get':
      if (json) expect(JSON.parse(result.stdout), what).toEqual({ key: entry!.printed, version: model.version, found: !entry!.deleted, value: entry!.deleted ? null : entry!.value });
      break;
    case 'history':
      if (json) expect((JSON.parse(result.stdout) as { versions: unknown[] }).versions[0], what).toEqual({ version: entry!.version, value: entry!.deleted ? null : entry!.value, deleted: entry!.deleted });
      break;
    case 'dump': {
      const at = call.args.indexOf('--limit');
      const expected = at === -1 ? model.dumpLines : model.dumpLines.slice(0, Number(call.args[at + 1]));
      const lines = result.stdout.split('\n').filter((line) => line !== '');
      if (json) expect(lines, what).toEqual(expected);
      else expect(lines.length, what).toBe(expected.length);
      break;
    }
    case 'watch': {
      if (!json) break;
      if (world.historyTrimmed && result.code === 1) {
        expect(result.stderr, what).toMatch(/\[LADYBUG_VERSION_NOT_RETAINED\]/);
        break;
      }
      const since = call.args.includes('--since') ? Number(call.args[call.args.indexOf('--since') + 1]) : 0;
      const last = new Map<string, { version: number; deleted: boolean; value: unknown }>();
      for (const line of result.stdout.split('\n').filter((text) => text !== '')) {
        const change = JSON.parse(line) as { version: number; key: unknown; deleted: boolean; value: unknown };
        last.set(JSON.stringify(change.key), { version: change.version, deleted: change.deleted, value: change.value });
      }
      for (const modelEntry of model.entries) {
        const seen = last.get(JSON.stringify(modelEntry.printed));
        if (modelEntry.version <= since) expect(seen, what).toBeUndefined();
        else if (!modelEntry.deleted) expect(seen, what).toEqual({ version: modelEntry.version, deleted: false, value: modelEntry.value });
        else if (seen !== undefined) expect(seen, what).toEqual({ version: modelEntry.version, deleted: true, value: null });
      }
      break;
    }
    case 'scrub':
      if (json) expect((JSON.parse(result.stdout) as { unrecoverable: unknown[] }).unrecoverable, what).toEqual([]);
      break;
    case 'leases':
      if (json) expect(JSON.parse(result.stdout), what).toEqual({ leases: [] });
      break;
    default:
      break;
  }
}

/** dump --json of `directory` is the model. */
async function expectHoldsModel(world: World, directory: string, why: string): Promise<void> {
  const dump = await ladybug('dump', directory, '--json');
  expect(dump.code, `${why}: ${dump.stderr}`).toBe(0);
  expect(dump.stdout.split('\n').filter((line) => line !== ''), why).toEqual(world.model.dumpLines);
}

async function runCommand(world: World, step: Extract<Step, { kind: 'command' }>): Promise<void> {
  const { command, json, bad, r } = step;
  const trusted = world.damages.length === 0;
  const call = invocation(world, command, json, bad, r);
  const beforeBytes = treeBytes(world.work);
  const beforeData = dataFiles(world.work);
  const backupBytes = call.backup === undefined ? undefined : treeBytes(call.backup.directory);
  const result = await ladybug(...call.args);
  checkCommon(call.args, result, json);
  const what = `ladybug ${call.args.join(' ')} -> ${result.code}\n${result.stderr}${result.stdout.slice(0, 600)}`;
  if (call.refusedBeforeOpen) {
    expect(result.code, what).toBe(2);
    expect(treeBytes(world.work), `${what}: a refused command changed the store`).toEqual(beforeBytes);
    return;
  }
  if (call.refusedAfterOpen) {
    expect(trusted ? [2] : [1, 2], what).toContain(result.code);
    return;
  }
  if (result.code !== 0 && result.stdout === '') {
    // The close of a command that opened the store checkpoints the WAL (its segments go), but no run goes.
    const after = new Set(dataFiles(world.work));
    expect(beforeData.filter((file) => file.startsWith('runs/') && !after.has(file)), `${what}: a failed command removed run files`).toEqual([]);
  }
  if (command === 'compact' && result.code === 0 && (call.args.includes('--max-versions-per-key') || call.args.includes('--retain-from'))) world.historyTrimmed = true;
  if (command === 'verify' || (command === 'repair' && call.args.includes('--dry-run'))) {
    expect(treeBytes(world.work), `${what}: a read-only command wrote`).toEqual(beforeBytes);
    const other = command === 'verify' ? ['repair', world.work, '--dry-run', '--json'] : ['verify', world.work, '--json'];
    const twin = await ladybug(...other);
    checkCommon(other, twin, true);
    expect(twin.code, `${what}\nthen ladybug ${other.join(' ')} -> ${twin.code} ${twin.stderr}`).toBe(result.code);
    expect(treeBytes(world.work), `${what}: a read-only command wrote`).toEqual(beforeBytes);
    if (trusted) expect(result.code, what).toBe(0);
    if (world.damages.some((damage) => CERTAIN_DAMAGES.has(damage))) expect(result.code, `${what}\n(damages ${world.damages.join(', ')})`).toBe(1);
    return;
  }
  if (command === 'verifyBackup' && call.backup !== undefined) {
    expect(treeBytes(call.backup.directory), `${what}: verify wrote to the backup`).toEqual(backupBytes);
    if (call.backup.holdsModel) expect(result.code, what).toBe(0);
    if (result.code === 3 || result.code === 1) {
      const into = fresh(world, 'restored-after-verify');
      const restored = await ladybug('restore', call.backup.directory, into);
      expect(restored.code, `${what}\nthen restore -> ${restored.code} ${restored.stderr}`).toBe(result.code === 3 ? 0 : 1);
      if (restored.code === 1) expect(existsSync(into) ? readdirSync(into) : [], `${what}: a refused restore wrote`).toEqual([]);
    }
    return;
  }
  if (command === 'backup' && result.code === 0) {
    world.backups.push({ directory: call.target!, holdsModel: trusted && call.args.includes('--copy') });
    if (trusted) await expectHoldsModel(world, call.target!, `${what}: the backup`);
  }
  if (command === 'restore' && call.backup !== undefined) {
    if (result.code === 0 && call.backup.holdsModel) await expectHoldsModel(world, call.target!, `${what}: the restored store`);
    if (result.code !== 0) expect(existsSync(call.target!) ? readdirSync(call.target!) : [], `${what}: a refused restore wrote`).toEqual([]);
    if (call.backup.holdsModel) expect(result.code, what).toBe(0);
    return;
  }
  if (trusted) await checkAgainstModel(world, command, call, result);
}

async function runLocked(world: World, step: Extract<Step, { kind: 'locked' }>): Promise<void> {
  const holder = await holdStore(world.work);
  if (holder === undefined) return; // a damaged store that does not open
  try {
    for (const command of step.commands) {
      const call = invocation(world, command, step.r[0]! < 0.5, undefined, step.r);
      const before = treeBytes(world.work);
      const result = await ladybug(...call.args);
      const what = `(store held by another process) ladybug ${call.args.join(' ')} -> ${result.code}\n${result.stderr}${result.stdout.slice(0, 300)}`;
      checkCommon(call.args, result, call.args.includes('--json'));
      expect(result.code, what).toBe(1);
      expect(errorLines(result.stderr)[0], what).toMatch(/\[LADYBUG_STORE_LOCKED\]$/);
      expect(treeBytes(world.work), `${what}: changed the held store`).toEqual(before);
      if (call.target !== undefined) expect(existsSync(call.target), `${what}: made the backup target`).toBe(false);
    }
  } finally {
    await holder.release();
  }
}

async function runSequence(seed: number, steps: Step[]): Promise<void> {
  const random = mulberry32(seed);
  const scratch = temporaryDirectory('ladybug-cli-review-');
  const pristine = join(scratch, 'pristine');
  mkdirSync(pristine);
  const model = await makePristineStore(pristine, random);
  const aFile = join(scratch, 'a-file');
  writeFileSync(aFile, 'not a directory');
  const world: World = { model, pristine, work: join(scratch, 'work-0'), scratch, damages: [], historyTrimmed: false, backups: [], counter: 0, aFile };
  cpSync(pristine, world.work, { recursive: true });
  const done: string[] = [];
  for (const [index, step] of steps.entries()) {
    done.push(JSON.stringify(step));
    if (process.env.CLI_REVIEW_TRACE !== undefined) process.stderr.write(`seed ${seed} step ${index}: ${done.at(-1)!}\n`);
    try {
      if (step.kind === 'reset') {
        world.work = fresh(world, 'work');
        cpSync(pristine, world.work, { recursive: true });
        world.damages = [];
        world.historyTrimmed = false;
      } else if (step.kind === 'damage') {
        const applied = applyDamage(world.work, step.damage, step.r);
        if (applied !== undefined) world.damages.push(step.damage);
        done[done.length - 1] += ` (${applied ?? 'nothing to damage'})`;
      } else if (step.kind === 'locked') {
        await runLocked(world, step);
      } else {
        await runCommand(world, step);
      }
    } catch (error) {
      throw new Error(`seed ${seed}, step ${index} of ${steps.length}: ${(error as Error).message}\nsteps so far:\n  ${done.join('\n  ')}`);
    }
  }
}

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug command: seeded random commands and damages', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}, ${STEPS} steps`, async () => {
      await runSequence(seed, generateSteps(mulberry32(seed * 7919 + 1), STEPS));
    }, 60_000);
  }
});
