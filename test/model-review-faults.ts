/**
 * The fault step of model-review-random.test.ts: an I/O error (EIO) injected into the
 * nth call of one file-system operation, then writes and a checkpoint run into it. Each
 * commit's outcome is classified as the README's Errors section says: resolved
 * (acknowledged: must survive everything), StoreFailedError (never written: must not
 * appear), CommitOutcomeUnknownError (may appear after a reopen, whole or not at all).
 * A failed store must still answer reads; it is then abandoned, the machine crashed,
 * and the store reopened: every acknowledged commit exact, nothing else but the one
 * commit whose outcome was unknown.
 */
import { expect } from 'vitest';
import type { FaultInjection } from '../src/fs/fault/fault-controller.js';
import type { CrashMode } from '../src/fs/fault-file-system.js';
import type { Operation } from './model-review-model.js';
import { brief, checkReads, type Context, pick, value } from './model-review-driver.js';

export interface FaultHooks {
  inject(injection: FaultInjection): void;
  clear(): void;
  /** Abandons the handle, crashes the machine in `mode` and reopens. */
  crashAndReopen(mode: CrashMode): Promise<void>;
}

const OPERATIONS: ReadonlyArray<FaultInjection['operation']> = ['write', 'datasync', 'datasync', 'sync', 'rename', 'syncDirectory', 'open', 'read', 'truncate', 'unlink'];

export async function faultStep(context: Context, hooks: FaultHooks, label: string): Promise<void> {
  const { rng, keys, model, log } = context;
  const injection: FaultInjection = { operation: pick(rng, OPERATIONS), error: 'EIO', nth: 1 + Math.floor(rng() * 12) };
  log.push(`  inject ${brief(injection)}`);
  hooks.inject(injection);
  let unknown: Operation[] | undefined;
  let failed = false;
  const store = context.store;
  for (let index = 0; index < 6; index++) {
    if (rng() < 0.2) {
      try {
        await store.checkpoint();
      } catch (error) {
        log.push(`  checkpoint: ${(error as { code?: string }).code}`);
        // A failed flush leaves the data in the WAL (checked by the reads below).
      }
      continue;
    }
    const operations: Operation[] = Array.from({ length: 1 + Math.floor(rng() * 3) }, () =>
      (rng() < 0.8 ? { type: 'put' as const, key: pick(rng, keys), value: value(rng) } : { type: 'del' as const, key: pick(rng, keys) }));
    try {
      const { version } = await store.batch(operations.map((operation) => ({ ...operation, key: context.keyArgument(operation.key) })));
      expect(unknown, `${label}: a commit acknowledged after one whose outcome is unknown`).toBeUndefined();
      model.commit(version, operations);
    } catch (error) {
      const code = (error as { code?: string }).code;
      log.push(`  batch: ${code} ${(error as Error).message.slice(0, 120)}`);
      if (code === 'LADYBUG_COMMIT_OUTCOME_UNKNOWN') {
        expect(unknown, `${label}: two commits with unknown outcomes in a row`).toBeUndefined();
        expect((error as { version?: number }).version, `${label}: the unknown commit's version`).toBe(model.version + 1);
        unknown = operations;
      } else {
        expect(code, `${label}: a failed commit's error: ${String(error)}`).toBe('LADYBUG_STORE_FAILED');
      }
      failed = true;
    }
  }
  hooks.clear();
  // A WAL segment made ahead that failed is final but met only at the next rotation (a
  // commit's or a checkpoint's): a checkpoint now makes the store meet it in this step.
  if (!store.stats().failed) {
    await store.checkpoint().catch((error: unknown) => {
      log.push(`  checkpoint after: ${(error as { code?: string }).code}`);
      expect((error as { code?: string }).code, `${label}: checkpoint after the fault: ${String(error)}`).toBe('LADYBUG_STORE_FAILED');
      failed = true;
    });
  }
  if (unknown === undefined) {
    // Failed or not, the store answers reads with what was acknowledged.
    await checkReads(context, false, `${label} (after the fault, failed ${failed})`);
  }
  if (!failed && !store.stats().failed) return;
  expect(store.stats().failed, `${label}: a commit failed but the store did not`).toBe(true);
  await hooks.crashAndReopen(pick(rng, ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'] as CrashMode[]));
  const survived = context.store.version - model.version;
  log.push(`  reopened at ${context.store.version}, unknown commit ${unknown === undefined ? 'none' : survived === 1 ? 'kept' : 'gone'}`);
  expect(survived, `${label}: acknowledged commits lost after the failure`).toBeGreaterThanOrEqual(0);
  expect(survived, `${label}: a commit that was never acknowledged appeared`).toBeLessThanOrEqual(unknown === undefined ? 0 : 1);
  if (survived === 1) model.commit(model.version + 1, unknown!);
}
