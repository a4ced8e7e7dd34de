/**
 * Transaction steps of model-review-random.test.ts: transaction() (serializable and
 * snapshot isolation, with a write from outside between a read and the commit, so some
 * attempts must conflict), transactionSync(), and a body that throws. Each checks what
 * the committed attempt read against the model (serializable: the state just before its
 * commit; snapshot: the state at its read version, its written keys unchanged since) and
 * applies its writes at the version it got.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import type { Transaction } from '../src/index.js';
import { hexOf, type Operation } from './model-review-model.js';
import { type Context, pick, value } from './model-review-driver.js';

export const TRANSACTION_STEPS = ['tx', 'tx', 'txConflict', 'txConflict', 'txSync', 'txAbort'] as const;
export type TransactionStep = typeof TRANSACTION_STEPS[number];

interface Attempt { readVersion: number; reads: Map<string, unknown>; scanned: Array<[string, unknown]> | undefined; writes: Operation[] }

export async function checkTransaction(context: Context, kind: TransactionStep, label: string): Promise<void> {
  const { model, rng, keys } = context;
  const store = context.store;
  const before = model.version;
  if (kind === 'txSync') {
    const read = pick(rng, keys);
    const target = pick(rng, keys);
    const gone = rng() < 0.4 ? pick(rng, keys) : undefined;
    const written = value(rng);
    let seen: unknown;
    let own: unknown;
    await store.transactionSync((tx) => {
      seen = tx.get(context.keyArgument(read));
      tx.put(context.keyArgument(target), { seen: seen ?? null, written });
      own = tx.get(context.keyArgument(target));
      if (gone !== undefined) tx.delete(context.keyArgument(gone));
    });
    expect(seen, `${label}: transactionSync read ${read.slice(0, 24)}`).toEqual(model.valueAt(read, before));
    expect(own, `${label}: transactionSync reads its own write`).toEqual({ seen: seen ?? null, written });
    const writes: Operation[] = [{ type: 'put', key: target, value: { seen: seen ?? null, written } }];
    if (gone !== undefined) writes.push({ type: 'del', key: gone });
    model.commit(store.version, writes);
    expect(store.version).toBe(before + 1);
    return;
  }
  if (kind === 'txAbort') {
    const failure = new Error('body failed');
    await expect(store.transaction(async (tx) => {
      tx.put(context.keyArgument(pick(rng, keys)), 1);
      await tx.get(context.keyArgument(pick(rng, keys)));
      throw failure;
    })).rejects.toBe(failure);
    expect(store.version, `${label}: an aborted transaction wrote`).toBe(before);
    return;
  }
  const isolation = rng() < 0.7 ? 'serializable' as const : 'snapshot' as const;
  const retries = pick(rng, [0, 1, 3]);
  const read = pick(rng, keys);
  const target = pick(rng, keys);
  const interfere = kind === 'txConflict' ? { key: rng() < 0.7 ? read : pick(rng, keys), value: value(rng) } : undefined;
  const useScan = rng() < 0.4;
  const attempts: Attempt[] = [];
  let outsideVersion: number | undefined;
  const body = async (tx: Transaction) => {
    const attempt: Attempt = { readVersion: tx.readVersion, reads: new Map(), scanned: undefined, writes: [] };
    attempts.push(attempt);
    attempt.reads.set(read, await tx.get(context.keyArgument(read)));
    if (useScan) {
      attempt.scanned = [];
      for await (const [key, stored] of tx.scan({ gte: context.keyArgument(read) })) attempt.scanned.push([hexOf(key), stored]);
    }
    if (interfere !== undefined && attempts.length === 1) {
      outsideVersion = (await store.put(context.keyArgument(interfere.key), interfere.value)).version;
      model.commit(outsideVersion, [{ type: 'put', key: interfere.key, value: interfere.value }]);
    }
    const written = { from: attempt.reads.get(read) ?? null, attempt: attempts.length };
    tx.put(context.keyArgument(target), written);
    attempt.writes.push({ type: 'put', key: target, value: written });
    expect(await tx.get(context.keyArgument(target)), `${label}: a transaction reads its own write`).toEqual(written);
    return attempts.length;
  };
  let result: number | undefined;
  let failure: unknown;
  try {
    result = await store.transaction(body, { isolation, retries });
  } catch (error) {
    failure = error;
  }
  // Whether the first attempt had to conflict.
  const readSet = new Set([read]);
  const scanFrom = useScan ? read : undefined;
  const conflicts = interfere !== undefined && (isolation === 'serializable'
    ? readSet.has(interfere.key) || (scanFrom !== undefined && Buffer.compare(Buffer.from(interfere.key, 'hex'), Buffer.from(scanFrom, 'hex')) >= 0)
    : interfere.key === target);
  const where = `${label}: ${isolation} retries ${retries} read ${read.slice(0, 12)} target ${target.slice(0, 12)} outside ${interfere?.key.slice(0, 12)} scan ${useScan}`;
  for (const attempt of attempts) {
    // Every attempt reads as of its read version.
    expect(attempt.reads.get(read), `${where}: read`).toEqual(model.valueAt(read, attempt.readVersion));
    if (attempt.scanned !== undefined) {
      const expected = model.keysIn({ gte: read }, false).filter((key) => model.valueAt(key, attempt.readVersion) !== undefined || model.visible(key, attempt.readVersion)?.change.deleted === false)
        .map((key) => [key, model.valueAt(key, attempt.readVersion)] as [string, unknown]);
      expect(attempt.scanned, `${where}: tx scan`).toEqual(expected);
    }
  }
  if (conflicts && retries === 0) {
    expect(failure, `${where}: must end with ConflictError`).toBeDefined();
    expect((failure as { code?: string }).code, `${where}: ${String(failure)}`).toBe('LADYBUG_CONFLICT');
    expect(store.version, `${where}: the conflicting transaction wrote`).toBe(model.version);
    return;
  }
  if (failure !== undefined) throw failure;
  expect(result, `${where}: attempts (a conflict must re-run the body, no conflict must not)`).toBe(conflicts ? 2 : 1);
  const last = attempts[attempts.length - 1]!;
  const commitVersion = model.version + 1;
  expect(store.version, `${where}: commit version`).toBe(commitVersion);
  if (isolation === 'serializable') {
    // Its reads are still true just before its commit.
    for (const [key, seen] of last.reads) expect(seen, `${where}: serializable read ${key.slice(0, 12)} stale at commit`).toEqual(model.valueAt(key, commitVersion - 1));
  } else {
    for (const operation of last.writes) {
      const changed = model.visible(operation.key, commitVersion - 1);
      expect(changed === undefined || changed.change.version <= last.readVersion, `${where}: lost update on ${operation.key.slice(0, 12)}`).toBe(true);
    }
  }
  model.commit(commitVersion, last.writes);
}
