/**
 * Entries of other kinds under names the store's orphan removal matches: a fifo or a unix
 * socket named like a run the manifest does not list (runs/0000000097.run, a run's .tmp)
 * or like an older manifest generation. The store only ever writes regular files there,
 * so such an entry is a user's or another tool's (a socket a sidecar listens on, a fifo a
 * script made); open removed them as crash leftovers. Now, as a directory under such a
 * name already was, they are left alone: open succeeds, every entry is still there as it
 * was, the store's data is intact, and regular orphan files are still removed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  removeTemporaryDirectories();
});

function listenOn(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

function kind(path: string): string {
  const stats = lstatSync(path);
  return stats.isFIFO() ? 'fifo' : stats.isSocket() ? 'socket' : stats.isFile() ? 'file' : 'other';
}

describe.skipIf(process.platform === 'win32')('fifos and sockets under names of store files', () => {
  it('open leaves them alone and still removes a regular orphan run', async () => {
    const directory = join(temporaryDirectory(), 'store');
    const first = await openStore(directory);
    for (let i = 0; i < 50; i += 1) await first.put(`k${i}`, i);
    await first.close();

    const foreign = {
      [join(directory, 'runs', '0000000097.run')]: 'fifo',
      [join(directory, 'runs', '0000000096.run.tmp')]: 'fifo',
      [join(directory, 'manifest', 'MANIFEST-0000000000.a')]: 'fifo',
      [join(directory, 'manifest', 'MANIFEST-0000000009.b')]: 'fifo',
      [join(directory, 'runs', '0000000095.run')]: 'socket',
    } as const;
    for (const [path, type] of Object.entries(foreign)) {
      if (type === 'fifo') execFileSync('mkfifo', [path]);
      else await listenOn(path);
    }
    const orphanFile = join(directory, 'runs', '0000000094.run');
    writeFileSync(orphanFile, 'a crash left this');

    const store = await openStore(directory);
    expect(await store.get('k7')).toBe(7);
    await store.put('after', 1);
    await store.close();
    const kinds = Object.fromEntries(Object.keys(foreign).map((path) => [path, existsSync(path) ? kind(path) : 'removed']));
    expect(kinds).toEqual(foreign);
    expect(existsSync(orphanFile)).toBe(false);

    const again = await openStore(directory);
    expect([await again.get('k49'), await again.get('after')]).toEqual([49, 1]);
    await again.close();
  });
});
