/**
 * A child process for test/faults-backup-sigkill.test.ts, bundled with esbuild and
 * started with child_process.fork:  node backup-kill-child.js <store> <backups> <cycle>
 *
 * It opens the store (a small memory budget: flushes and background compactions run
 * beside the work), then writes new keys one at a time and, beside the writes, takes
 * backups one after another into <backups>/<cycle>-<n> (hard-linked and copied by
 * turn), until the parent SIGKILLs it. Each put is reported after it resolved (durable),
 * each backup when it starts and after it resolved, with its version.
 *
 * Messages: { type: 'ready' }, { type: 'ack', key, version },
 * { type: 'backup-start', directory }, { type: 'backup-done', directory, version }.
 */
import { isMainThread } from 'node:worker_threads';
import { openStore } from '../../src/index.js';

export type BackupKillReport =
  | { type: 'ready' }
  | { type: 'ack'; key: string; version: number }
  | { type: 'backup-start'; directory: string }
  | { type: 'backup-done'; directory: string; version: number };

export const valueOfKey = (key: string) => ({ key, text: `value of ${key} `.padEnd(300 + (key.length * 37) % 500, '*') });

function send(report: BackupKillReport): Promise<void> {
  return new Promise((resolve) => process.send!(report, undefined, undefined, () => resolve()));
}

async function main(directory: string, backups: string, cycle: string): Promise<void> {
  const store = await openStore(directory, { memoryBudgetBytes: 2 * 1024 * 1024, segmentSizeBytes: 256 * 1024 });
  await send({ type: 'ready' });
  const writer = (async () => {
    for (let index = 0; ; index++) {
      const key = `c${cycle}-${String(index).padStart(7, '0')}`;
      const { version } = await store.put(key, valueOfKey(key));
      void send({ type: 'ack', key, version });
    }
  })();
  const backupLoop = (async () => {
    for (let index = 0; ; index++) {
      const target = `${backups}/${cycle}-${index}`;
      await send({ type: 'backup-start', directory: target });
      const { version } = await store.backup(target, { link: index % 2 === 0 });
      await send({ type: 'backup-done', directory: target, version });
    }
  })();
  await Promise.all([writer, backupLoop]);
}

// Only when forked by the test (which also imports valueOfKey from here). The store's
// worker threads (flush, merge, compression) find no worker script of their own in this
// bundle and load it: they end at once, and the store does their work in process.
if (!isMainThread) {
  process.exit(1);
} else if (process.env.LADYBUG_BACKUP_KILL_CHILD === '1') {
  const [directory, backups, cycle] = process.argv.slice(2);
  main(directory!, backups!, cycle!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
