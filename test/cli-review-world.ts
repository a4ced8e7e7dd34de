/**
 * The world of the cli-review random test (cli-review-random.test.ts): a pristine store
 * made once per seed through the API (three runs' worth of commits, the last ones only
 * in the WAL, UTF-8 and binary keys, values of every kind dump prints), the model of
 * what it holds, the damages the test applies to a working copy, and a process that
 * holds a store's lock. The command line cannot write a key, so the model never changes:
 * a working copy is trusted (its contents must equal the model) until it is damaged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStore } from '../src/index.js';
import { jsonForm, keyJsonForm } from '../src/cli/output.js';
import { cliPath } from './support/cli-runner.js';

export interface ModelEntry {
  /** The key as dump prints it: its string, or {"$bytes": hex}. */
  printed: unknown;
  /** The key's argument to get/history: the string, or its hex with --hex. */
  argument: string[];
  version: number;
  /** jsonForm of the newest value; undefined when the newest version is a delete. */
  value: unknown;
  deleted: boolean;
}

export interface Model {
  version: number;
  entries: ModelEntry[];
  /** dump --json's lines for the live keys, in key order (byte order: the binary keys last). */
  dumpLines: string[];
}

/** A value of one of the kinds dump prints, chosen by `pick` in [0, 1). */
function valueOf(index: number, pick: number): unknown {
  const kinds: Array<() => unknown> = [
    () => ({ index, name: `v${index}`, nested: [1, 'two', null, { three: 3 }] }),
    () => index * 1.5,
    () => `text ${index} ✓`,
    () => BigInt(index) * 10_000_000_000_000_000_000n,
    () => Uint8Array.from([index & 0xff, 0xff, 0x00]),
    () => new Date(Date.UTC(2020, 0, 1 + (index % 28))),
    () => null,
    () => new Map<unknown, unknown>([['k', index], [index, [true, false]]]),
    () => ({ $looksLikeTag: index }),
  ];
  return kinds[Math.floor(pick * kinds.length)]!();
}

/**
 * Makes the pristine store at `directory` with a seeded mix of puts and deletes over
 * three stages (two checkpoints: two runs; the last stage left in the WAL) and returns
 * the model of what it holds.
 */
export async function makePristineStore(directory: string, random: () => number): Promise<Model> {
  const keys: Array<string | Uint8Array> = [];
  for (let index = 0; index < 120; index++) keys.push(`key:${String(index).padStart(3, '0')}`);
  keys.push(Uint8Array.from([0xff, 0x01]), Uint8Array.from([0xfe, 0x80, 0x00]), 'ünï:ключ');
  const newest = new Map<number, { version: number; value: unknown; deleted: boolean }>();
  const stages = [{ writes: 200, checkpoint: true }, { writes: 80, checkpoint: true }, { writes: 30, checkpoint: false }];
  let store = await openStore(directory, { keyEncoding: 'binary', checkpointOnClose: false });
  for (const stage of stages) {
    for (let write = 0; write < stage.writes; write++) {
      const at = Math.floor(random() * keys.length);
      const key = keys[at]!;
      const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
      if (newest.has(at) && random() < 0.15) {
        await store.delete(bytes);
        newest.set(at, { version: store.version, value: undefined, deleted: true });
      } else {
        const value = valueOf(write, random());
        await store.put(bytes, value);
        newest.set(at, { version: store.version, value: undefined, deleted: false });
      }
    }
    if (stage.checkpoint) await store.checkpoint();
  }
  const version = store.version;
  // The values as the store reads them back (a Map reads back as a plain object: README, Values).
  for (const [at, entry] of newest) {
    const key = keys[at]!;
    if (!entry.deleted) entry.value = jsonForm(await store.get(typeof key === 'string' ? new TextEncoder().encode(key) : key));
  }
  await store.close();
  // One reopen so the store is as a command finds it after a clean close of a writer.
  store = await openStore(directory, { keyEncoding: 'binary', checkpointOnClose: false });
  await store.close();
  const entries: ModelEntry[] = [];
  for (const [at, entry] of newest) {
    const key = keys[at]!;
    const printed = keyJsonForm(key);
    const argument = typeof key === 'string' ? [key] : [Buffer.from(key).toString('hex'), '--hex'];
    entries.push({ printed, argument, ...entry });
  }
  const order = (entry: ModelEntry): Buffer => typeof entry.printed === 'string' ? Buffer.from(entry.printed) : Buffer.from((entry.printed as { $bytes: string }).$bytes, 'hex');
  entries.sort((a, b) => Buffer.compare(order(a), order(b)));
  const dumpLines = entries.filter((entry) => !entry.deleted).map((entry) => JSON.stringify({ key: entry.printed, value: entry.value }));
  return { version, entries, dumpLines };
}

export const DAMAGES = ['flipRun', 'truncateManifestCopy', 'truncateManifestBoth', 'removeRun', 'flipWal', 'removeManifestDirectory', 'walAsFile'] as const;
export type Damage = typeof DAMAGES[number];

/** Damages after which the store is certainly damaged: verify must exit 1. */
export const CERTAIN_DAMAGES: ReadonlySet<Damage> = new Set(['truncateManifestBoth', 'removeRun', 'removeManifestDirectory', 'walAsFile']);

function names(directory: string, pattern: RegExp): string[] {
  try {
    return readdirSync(directory).filter((name) => pattern.test(name)).sort();
  } catch {
    return [];
  }
}

function flipByte(path: string, offset: number): void {
  const handle = openSync(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(handle, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x5a;
    writeSync(handle, byte, 0, 1, offset);
  } finally {
    closeSync(handle);
  }
}

/**
 * Applies `damage` to the store at `directory` with the choices `r` (numbers in [0, 1));
 * returns what it did, or undefined when there is nothing to damage that way.
 */
export function applyDamage(directory: string, damage: Damage, r: readonly number[]): string | undefined {
  const pick = <T>(list: readonly T[], at: number): T | undefined => list.length === 0 ? undefined : list[Math.floor(r[at]! * list.length)];
  const runs = names(join(directory, 'runs'), /\.run$/);
  const copies = names(join(directory, 'manifest'), /^MANIFEST-\d+\.[ab]$/);
  switch (damage) {
    case 'flipRun': {
      const run = pick(runs, 0);
      if (run === undefined) return undefined;
      const path = join(directory, 'runs', run);
      const offset = Math.floor(r[1]! * readFileSync(path).length);
      flipByte(path, offset);
      return `flipped byte ${offset} of runs/${run}`;
    }
    case 'truncateManifestCopy': {
      const copy = pick(copies, 0);
      if (copy === undefined) return undefined;
      const path = join(directory, 'manifest', copy);
      const length = Math.floor(r[1]! * readFileSync(path).length);
      truncateSync(path, length);
      return `truncated manifest/${copy} to ${length}`;
    }
    case 'truncateManifestBoth': {
      if (copies.length === 0) return undefined;
      // Inside the first (full-state) record: no crash leaves both copies so.
      const length = 1 + Math.floor(r[1]! * 40);
      for (const copy of copies) truncateSync(join(directory, 'manifest', copy), length);
      return `truncated both manifest copies to ${length}`;
    }
    case 'removeRun': {
      const run = pick(runs, 0);
      if (run === undefined) return undefined;
      rmSync(join(directory, 'runs', run));
      return `removed runs/${run}`;
    }
    case 'flipWal': {
      const segment = pick(names(join(directory, 'wal'), /^wal-\d+\.log$/), 0);
      if (segment === undefined) return undefined;
      const path = join(directory, 'wal', segment);
      const bytes = readFileSync(path);
      let used = bytes.length;
      while (used > 0 && bytes[used - 1] === 0) used--;
      if (used === 0) return undefined;
      const offset = Math.floor(r[1]! * used);
      flipByte(path, offset);
      return `flipped byte ${offset} of wal/${segment} (${used} bytes used)`;
    }
    case 'removeManifestDirectory':
      if (copies.length === 0 || runs.length === 0) return undefined;
      rmSync(join(directory, 'manifest'), { recursive: true });
      return 'removed manifest/';
    case 'walAsFile':
      rmSync(join(directory, 'wal'), { recursive: true, force: true });
      writeFileSync(join(directory, 'wal'), 'a file where the WAL directory was');
      return 'replaced wal/ by a file';
  }
}

/** The store's run files and WAL segments (not the recycled spares): what holds its data. */
export function dataFiles(directory: string): string[] {
  return [...names(join(directory, 'runs'), /^\d+\.run$/).map((name) => `runs/${name}`), ...names(join(directory, 'wal'), /^wal-\d+\.log$/).map((name) => `wal/${name}`)];
}

/**
 * A process holding the store at `directory` open (its directory lock), from the built
 * package as the command runs; undefined when the store does not open. release() closes it.
 */
export async function holdStore(directory: string): Promise<{ release: () => Promise<void> } | undefined> {
  const index = pathToFileURL(join(cliPath, '..', '..', 'index.js')).href;
  const script = `const { openStore } = await import(${JSON.stringify(index)});
let store;
try { store = await openStore(${JSON.stringify(directory)}); } catch { process.stdout.write('failed\\n'); process.exit(0); }
process.stdout.write('held\\n');
process.stdin.on('end', async () => { await store.close(); process.exit(0); });
process.stdin.resume();`;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, LADYBUG_DEBUG: '' } });
  const first = await new Promise<string>((resolve) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    child.once('exit', () => resolve(text.trim() || 'exited'));
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  if (first !== 'held') {
    child.stdin!.end();
    await exited;
    return undefined;
  }
  return {
    release: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}
