/**
 * A child process for test/lease-crash.test.ts, bundled with esbuild and started
 * with child_process.fork:  node lease-crash-child.js <dir> <acquire|renew|release> <cycle>
 *
 * It opens the store, acquires 'job' with a key bound to it ('session/<cycle>'), then
 * repeats one lease operation until the parent SIGKILLs it. Every token it holds is
 * reported only after the operation that returned it resolved (so it is durable):
 * the parent's bound on what a later open must exceed.
 *
 * Messages: { type: 'ready', token } after the first acquisition, then
 * { type: 'token', token } per acknowledged acquisition or renewal.
 */
import { openStore } from '../../src/index.js';

type Operation = 'acquire' | 'renew' | 'release';

export type LeaseChildReport = { type: 'ready'; token: number } | { type: 'token'; token: number };

function send(report: LeaseChildReport): Promise<void> {
  return new Promise((resolve) => process.send!(report, undefined, undefined, () => resolve()));
}

async function main(directory: string, operation: Operation, cycle: string): Promise<void> {
  const store = await openStore(directory, { segmentSizeBytes: 64 * 1024 });
  const owner = `child-${cycle}`;
  const job = await store.leases.acquire('job', { owner, ttlMs: 60_000 });
  await store.put(`session/${cycle}`, 'alive', { lease: job });
  await send({ type: 'ready', token: job.token });
  for (let round = 0; ; round++) {
    if (operation === 'renew') {
      await store.leases.renew('job', { owner, token: job.token, ttlMs: 60_000 });
      await send({ type: 'token', token: job.token });
    } else {
      // acquire: a new lease per round, each with a bound key, left held; release: one
      // lease acquired, bound and released per round.
      const name = operation === 'acquire' ? `spin/${round}` : 'spin';
      const lease = await store.leases.acquire(name, { owner, ttlMs: 60_000 });
      await send({ type: 'token', token: lease.token });
      await store.put(`session/${cycle}/${round}`, round, { lease });
      if (operation === 'release') await store.leases.release(name, { owner, token: lease.token });
    }
  }
}

const [directory, operation, cycle] = process.argv.slice(2);
main(directory!, operation as Operation, cycle!).catch((error: unknown) => {
  process.stderr.write(`lease-crash-child: ${String(error)}\n`);
  process.exit(1);
});
