/**
 * A watcher that stopped reading holds, in its live buffer, only about what it is
 * counted for (WATCH_BUFFER_BYTES_MAX bounds that), not the 64 KiB value slab each
 * small byte value was carved from: the buffer kept the slab itself alive (marked
 * escaped), so 2,000 buffered 8-byte values of a narrow prefix, each carved next to
 * 7 KB values of other keys, held one slab each after those keys' memtables were
 * flushed and dropped (114 MiB here; at the 10,000-change bound about 640 MiB, for a
 * buffer counted at under 1 MiB). Measured in a child process (node --expose-gc).
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
const ROUNDS = 2000;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

/** argv = [open-store.js path, store directory, rounds]. Prints one JSON line. */
const CHILD_SCRIPT = `
const [openStorePath, directory, roundsText] = process.argv.slice(1);
const rounds = Number(roundsText);
const { openStore } = await import(openStorePath);
const arrayBufferBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); return process.memoryUsage().arrayBuffers; };
const store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
const feed = store.watch({ gte: 'w/', lt: 'w0' });
const first = feed.next();
await store.put('w/start', new Uint8Array(8));
const started = await first;
const large = new Uint8Array(7000).fill(7);
const before = arrayBufferBytes();
for (let round = 0; round < rounds; round++) {
  const operations = [];
  for (let index = 0; index < 8; index++) operations.push({ type: 'put', key: 'k' + String(round * 8 + index).padStart(8, '0'), value: large });
  operations.push({ type: 'put', key: 'w/' + String(round).padStart(6, '0'), value: new Uint8Array(8).fill(round & 255) });
  await store.batch(operations);
}
await store.checkpoint();
const grownBytes = arrayBufferBytes() - before;
let delivered = 0;
let wrong = 0;
for (let round = 0; round < rounds; round++) {
  const { value: change } = await feed.next();
  delivered++;
  const bytes = change.value;
  if (change.key !== 'w/' + String(round).padStart(6, '0') || bytes.length !== 8 || bytes.some((byte) => byte !== (round & 255))) wrong++;
}
await feed.return();
await store.close();
console.log(JSON.stringify({ started: started.value.key, grownBytes, delivered, wrong }));
`;

describe('a watcher that stops reading', () => {
  it(`holds about its buffered values, not their slabs (${ROUNDS.toLocaleString('en-US')} changes of 8 B among 7 KB values)`, async () => {
    const environment = { ...process.env };
    delete environment['LADYBUG_DEBUG'];
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT, openStorePath, temporaryDirectory(), String(ROUNDS)], {
      env: environment,
      maxBuffer: 16 * MEBIBYTE,
    });
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]!) as { started: string; grownBytes: number; delivered: number; wrong: number };
    console.log(`idle watcher: array buffers grew ${(result.grownBytes / MEBIBYTE).toFixed(1)} MiB over ${ROUNDS} buffered changes`);
    expect(result.started).toBe('w/start');
    expect(result.delivered).toBe(ROUNDS);
    expect(result.wrong, 'every buffered value delivered as written').toBe(0);
    expect(result.grownBytes).toBeLessThan(24 * MEBIBYTE);
  }, 120_000);
});
