/**
 * Lease-watch review: an acquire woken from its wait that then gives up without taking
 * the lease (its signal aborted while its next attempt waited its turn behind another
 * lease operation) must pass the wake on. A release wakes only the first waiter
 * (LeaseWaiters#wakeOne); the quitter consumed that wake and left, so the next waiter
 * slept on with the lease free, until its waitMs ran out (up to 2^31 - 1 ms) or some
 * later release. README: waiting acquires are woken in arrival order by release, force
 * release or expiry; nothing polls.
 * No timing: the next waiter is given event-loop turns (not a time bound) and its
 * leftover wait is ended by close() at the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { afterLeaseCheck } from '../src/lease/lease-manager.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { settled } from './helpers.js';

const WAIT_MS_MAX = 2 ** 31 - 1;
const leftOver: AbortController[] = [];
afterEach(() => {
  for (const controller of leftOver.splice(0)) controller.abort();
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('lease-watch review: a woken acquire that gives up wakes the next waiter', () => {
  it('the second waiter takes the released lease after the first, woken, aborts', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(11) });
    try {
      const held = await store.leases.acquire('job', { owner: 'holder', ttlMs: 600_000 });
      const other = await store.leases.acquire('other', { owner: 'writer', ttlMs: 600_000 });
      const quitterAbort = new AbortController();
      const quitter = store.leases.acquire('job', { owner: 'quitter', ttlMs: 600_000, waitMs: WAIT_MS_MAX, signal: quitterAbort.signal })
        .then((lease) => `acquired by ${lease.owner}`, (error: unknown) => (error as Error).name);
      while (store.leases.stats().waitingAcquires < 1) await turns(1);
      const patientAbort = new AbortController();
      leftOver.push(patientAbort);
      const patient = store.leases.acquire('job', { owner: 'patient', ttlMs: 600_000, waitMs: WAIT_MS_MAX, signal: patientAbort.signal });
      const patientState = settled(patient);
      while (store.leases.stats().waitingAcquires < 2) await turns(1);
      await turns(5);
      expect(patientState.done, 'the patient waiter waits behind the quitter').toBe(false);

      // A lease-bound write holds lease.operations at its failpoint while the release wakes
      // the quitter (the first waiter), so the quitter's next attempt queues behind it; then it aborts.
      let unblock!: () => void;
      let blocked!: () => void;
      const atFailpoint = new Promise<void>((resolve) => { blocked = resolve; });
      store.leases[afterLeaseCheck] = () => { blocked(); return new Promise<void>((resolve) => { unblock = resolve; }); };
      const releasing = store.leases.release('job', { owner: 'holder', token: held.token });
      const writing = store.put('bound', 1, { lease: { name: 'other', token: other.token, owner: 'writer' } });
      await atFailpoint;
      store.leases[afterLeaseCheck] = undefined;
      await releasing;
      quitterAbort.abort();
      unblock();
      await writing;
      expect(await quitter).toBe('AbortError');

      // The lease is free: the patient waiter must be woken and take it (before: it slept on).
      for (let round = 0; round < 200 && !patientState.done; round++) await turns(5);
      expect(patientState.done, 'the patient waiter was woken once the quitter gave up').toBe(true);
      const lease = await patient;
      expect(lease.owner).toBe('patient');
      expect((await store.leases.get('job'))?.owner).toBe('patient');
    } finally {
      await store.close();
    }
  });
});
