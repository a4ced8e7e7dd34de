/**
 * Peak RSS and keys/s of the large-load workload's load phase, variants alternated
 * round by round (issue 7's memory target), so a change is judged on a shared, busy
 * machine by medians and by how many rounds it won:
 *
 *   node dist/bench/large/load-rss-ab.js [--keys 1000000] [--rounds 3] [--budget-mib 64]
 *     --variant base=/tmp/A/dist --variant capped=/tmp/A/dist,NODE_OPTIONS=--max-old-space-size=128
 *     --variant arenas=/tmp/A/dist,MALLOC_ARENA_MAX=2 --variant changed=/tmp/B/dist
 *
 * A variant is a name, the build (a directory holding bench/large/large-child.js, e.g.
 * a copy of dist/ with one constant edited) and, after commas, environment settings for
 * its child (NAME=value). Each round runs every variant once, in the order given, each
 * in a child process of its own on a fresh store directory (large-child.ts, phase
 * load, random key order, 100 B values). It prints one line per child as it ends,
 * then per variant: the median peak RSS (VmHWM) and keys/s, and against the first
 * variant in how many rounds its peak was lower and its keys/s higher. RSS moves
 * ±15-20 MiB between rounds at load average 10-15 on 2 cores: judge a few MiB over
 * many rounds, not one.
 *
 * Invariant: every store directory is removed after its child; the children are run
 * one at a time.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LargeChildReport, LargeChildRequest } from './large-child.js';

const run = promisify(execFile);
const MEBIBYTE = 1024 * 1024;

interface Variant {
  name: string;
  build: string;
  env: Record<string, string>;
}

interface Result {
  round: number;
  peakMebibytes: number;
  keysPerSecond: number;
}

function parseVariant(text: string): Variant {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new RangeError(`--variant takes name=build[,NAME=value...], got ${text}`);
  const [build, ...settings] = text.slice(equals + 1).split(',');
  const env: Record<string, string> = {};
  for (const setting of settings) {
    const at = setting.indexOf('=');
    if (at <= 0) throw new RangeError(`a variant's setting is NAME=value, got ${setting}`);
    env[setting.slice(0, at)] = setting.slice(at + 1);
  }
  return { name: text.slice(0, equals), build: build ?? '', env };
}

async function loadOnce(variant: Variant, keyCount: number, budgetBytes: number): Promise<{ peakMebibytes: number; keysPerSecond: number }> {
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-load-rss-'));
  try {
    const store = join(directory, 'store');
    mkdirSync(store);
    const request: LargeChildRequest = {
      phase: 'load', engineId: 'ladybug', directory: store, keyCount, keyOrder: 'random',
      ladybugStoreOptions: { memoryBudgetBytes: budgetBytes }, readCount: 0, overwriteCount: 0,
    };
    const child = join(variant.build, 'bench', 'large', 'large-child.js');
    const { stdout } = await run(process.execPath, [child, JSON.stringify(request)], { env: { ...process.env, ...variant.env }, maxBuffer: 16 * MEBIBYTE });
    const lines = stdout.trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1] ?? '{}') as LargeChildReport;
    return { peakMebibytes: Math.round((report.figures['peakRssBytes'] ?? 0) / MEBIBYTE), keysPerSecond: Math.round(report.figures['keysPerSecond'] ?? 0) };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function option(argv: readonly string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at < 0 ? fallback : (argv[at + 1] ?? fallback);
}

async function main(argv: readonly string[]): Promise<void> {
  const keyCount = Number(option(argv, '--keys', '1000000'));
  const rounds = Number(option(argv, '--rounds', '3'));
  const budgetBytes = Number(option(argv, '--budget-mib', '64')) * MEBIBYTE;
  const variants = argv.flatMap((arg, at) => (arg === '--variant' ? [parseVariant(argv[at + 1] ?? '')] : []));
  if (variants.length === 0 || !Number.isSafeInteger(keyCount) || !Number.isSafeInteger(rounds)) throw new RangeError('give --variant name=build at least once; --keys and --rounds take integers');
  const results = new Map<string, Result[]>(variants.map((variant) => [variant.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const result = { round, ...(await loadOnce(variant, keyCount, budgetBytes)) };
      results.get(variant.name)!.push(result);
      process.stdout.write(`round ${round} ${variant.name}: peak ${result.peakMebibytes} MiB, ${result.keysPerSecond} keys/s\n`);
    }
  }
  const base = results.get(variants[0]!.name)!;
  for (const variant of variants) {
    const rows = results.get(variant.name)!;
    const lower = rows.filter((row, at) => row.peakMebibytes < base[at]!.peakMebibytes).length;
    const faster = rows.filter((row, at) => row.keysPerSecond > base[at]!.keysPerSecond).length;
    const against = variant === variants[0] ? '' : `; against ${variants[0]!.name}: peak lower in ${lower} of ${rows.length}, keys/s higher in ${faster} of ${rows.length}`;
    process.stdout.write(`${variant.name}: peak median ${median(rows.map((row) => row.peakMebibytes))} MiB, keys/s median ${median(rows.map((row) => row.keysPerSecond))}${against}\n`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`load-rss-ab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
