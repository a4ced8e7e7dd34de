/**
 * A watcher that stopped reading holds, in its live buffer, only about what it is
 * counted for (WATCH_BUFFER_BYTES_MAX bounds that), not the shared array each small
 * value's encoding lies in: the buffer kept the array itself alive, so after the memtables
 * were flushed and dropped
 * - 2,000 buffered 8-byte values of a narrow prefix, each carved next to 7 KB values of
 *   other keys, held one 64 KiB value slab each (114 MiB here; about 640 MiB at the
 *   10,000-change bound, for a buffer counted at under 1 MiB);
 * - 4,000 buffered small objects, each encoded next to 1.5 KB objects of other keys,
 *   held one of msgpackr's 8 KiB output buffers each (31 MiB here).
 * Measured in a child process (node --expose-gc).
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
afterEach(removeTemporaryDirectories);

const MEBIBYTE = 1024 * 1024;
/** Per kind: rounds, the bound on the growth of array buffers, the value of the watched key, another key's value. */
const KINDS = {
  bytes: { rounds: 2000, boundBytes: 24 * MEBIBYTE, watched: 'new Uint8Array(8).fill(round & 255)', other: 'new Uint8Array(7000).fill(7)', others: 8 },
  objects: { rounds: 4000, boundBytes: 12 * MEBIBYTE, watched: '({ round, tag: "small" })', other: '({ text: "x".repeat(1500), index })', others: 4 },
} as const;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

/** argv = [open-store.js path, store directory]; the kind's expressions are spliced in. Prints one JSON line. */
function childScript(kind: (typeof KINDS)[keyof typeof KINDS]): string {
  return `
const [openStorePath, directory] = process.argv.slice(1);
const rounds = ${kind.rounds};
const { openStore } = await import(openStorePath);
const arrayBufferBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); return process.memoryUsage().arrayBuffers; };
const store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
const feed = store.watch({ gte: 'w/', lt: 'w0' });
const first = feed.next();
await store.put('w/start', 'start');
const started = await first;
const before = arrayBufferBytes();
for (let round = 0; round < rounds; round++) {
  const operations = [];
  for (let index = 0; index < ${kind.others}; index++) operations.push({ type: 'put', key: 'k' + String(round * 8 + index).padStart(8, '0'), value: ${kind.other} });
  operations.push({ type: 'put', key: 'w/' + String(round).padStart(6, '0'), value: ${kind.watched} });
  await store.batch(operations);
}
await store.checkpoint();
const grownBytes = arrayBufferBytes() - before;
let delivered = 0;
let wrong = 0;
for (let round = 0; round < rounds; round++) {
  const { value: change } = await feed.next();
  delivered++;
  const expected = JSON.stringify(${kind.watched}, (key, value) => value instanceof Uint8Array ? [...value] : value);
  const got = JSON.stringify(change.value, (key, value) => value instanceof Uint8Array ? [...value] : value);
  if (change.key !== 'w/' + String(round).padStart(6, '0') || got !== expected) wrong++;
}
await feed.return();
await store.close();
console.log(JSON.stringify({ started: started.value.key, grownBytes, delivered, wrong }));
`;
}

describe('a watcher that stops reading', () => {
  it.each(Object.entries(KINDS))('holds about its buffered values, not the arrays they lie in (%s)', async (_name, kind) => {
    const environment = { ...process.env };
    delete environment['LADYBUG_DEBUG'];
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', childScript(kind), openStorePath, temporaryDirectory()], {
      env: environment,
      maxBuffer: 16 * MEBIBYTE,
    });
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]!) as { started: string; grownBytes: number; delivered: number; wrong: number };
    console.log(`idle watcher (${_name}): array buffers grew ${(result.grownBytes / MEBIBYTE).toFixed(1)} MiB over ${kind.rounds} buffered changes`);
    expect(result.started).toBe('w/start');
    expect(result.delivered).toBe(kind.rounds);
    expect(result.wrong, 'every buffered value delivered as written').toBe(0);
    expect(result.grownBytes).toBeLessThan(kind.boundBytes);
  }, 120_000);
});
