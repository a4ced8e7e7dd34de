/**
 * A read that rebuilds a damaged run block from parity reports it as a process warning
 * (LADYBUG_BLOCK_REPAIRED, counted in stats().storage.repairedBlocks too), which the
 * library leaves to the application: process.on('warning') sees it, --no-warnings
 * silences Node's printing of it. The `ladybug` command is that application, and it let
 * Node print it: two lines on stderr, "(node:<pid>) [LADYBUG_BLOCK_REPAIRED] Warning: ..."
 * and "(Use `node --trace-warnings ...` ...)", beside a result that exited 0, where README
 * promises one `ladybug: ` line. The command now prints each process warning as one line,
 * `ladybug: warning: <message> [<code>]`, and nothing of Node's own form.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store of one run whose first data block has one flipped byte (parity rebuilds it). */
async function storeWithDamagedBlock(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 200; index++) await store.put(`k${String(index).padStart(4, '0')}`, 'x'.repeat(100));
  await store.close();
  const run = readdirSync(join(directory, 'runs')).find((name) => name.endsWith('.run'))!;
  const path = join(directory, 'runs', run);
  const bytes = readFileSync(path);
  bytes[100]! ^= 0xff;
  writeFileSync(path, bytes);
  return directory;
}

describe('a block repaired on read, under ladybug', () => {
  it('is one "ladybug: warning: ... [LADYBUG_BLOCK_REPAIRED]" line on stderr, the value right, exit 0', async () => {
    const directory = await storeWithDamagedBlock();
    const result = await ladybug('get', directory, 'k0001', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ found: true, value: 'x'.repeat(100) });
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^ladybug: warning: ladybug-store repaired a block of run 1 \(.+\) at offset \d+, stripe \d+, from parity, rewritten in place \[LADYBUG_BLOCK_REPAIRED\]$/);
    // Rewritten in place: the next read finds nothing to repair, and says nothing.
    const again = await ladybug('get', directory, 'k0001', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
  }, 60_000);
});
