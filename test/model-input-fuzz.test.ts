/**
 * An outside review of bad input across the public API, by seeded property-based
 * fuzzing. README's rule: bad input gets a clear, typed error with a stable `code`,
 * and nothing already stored is lost or changed.
 *
 * Each case opens a store (keyEncoding 'utf8' or 'binary', maxValueBytes 1024, WAL
 * segments of 64 KiB, so that a commit can be over what one holds) with
 * known contents (several versions, a delete, a 1,024-byte key, a key that is not
 * UTF-8, 600 keys of one batch that a scan reads in three chunks), then makes a few calls from model-input-writes.ts and model-input-reads.ts:
 * put/delete/batch/transaction/transactionSync with every key and value form (valid,
 * at and one byte over the limits, refused), get/history/scan/snapshot reads with odd
 * options and bounds, checkpoint/compact/stats/snapshot with bad arguments and
 * openStore with bad options. Each call must end, within a timeout, as README says
 * (the documented class and code, rejected by promise-returning methods; an accepted
 * write the next version, reading back as written); after each, the store must hold
 * exactly the model. At the end: close twice, every call after close refused with
 * StoreClosedError, and a reopen reads the model, every key as of every version.
 *
 * MODEL_INPUT_RUNS and MODEL_INPUT_SEED run others (the committed default stays quick).
 */
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { describe, it } from 'vitest';
import { ErrorCode, openStore, type KeyEncoding, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { ContentsModel, expectContents, SPREAD_PREFIX } from './model-input-model.js';
import { readCall, runRead, type ReadCall } from './model-input-reads.js';
import { expectAsync, expectSync, refusalOf, settle } from './model-input-settle.js';
import { VALUE_BYTES_MAX } from './model-input-values.js';
import { BULK_SEGMENT_BYTES, runWrite, writeCall, type WriteCall } from './model-input-writes.js';

const RUNS = Number(process.env.MODEL_INPUT_RUNS ?? 80);
const SEED = Number(process.env.MODEL_INPUT_SEED ?? 20261203);

type Call = WriteCall | ReadCall;

const KNOWN: [Uint8Array, unknown[]][] = [
  [Buffer.from('a'), [1, { n: [1, 2] }, 'three']],
  [Buffer.from('\u00e9t\u00e9'), [new Uint8Array([1, 2]), null]],
  [Buffer.from('k'.repeat(1024)), [2n ** 70n]],
  [Buffer.from([0xff, 0x00]), ['not utf-8']],
  [Buffer.from('gone'), [true]],
];

async function openKnown(fileSystem: FaultFileSystem, encoding: KeyEncoding): Promise<{ store: Store; model: ContentsModel }> {
  const store = await openStore('/db', { fileSystem, keyEncoding: encoding, maxValueBytes: VALUE_BYTES_MAX, segmentSizeBytes: BULK_SEGMENT_BYTES });
  const model = new ContentsModel();
  for (const [bytes, values] of KNOWN) {
    for (const value of values) model.commit((await store.put(bytes, value)).version, [{ bytes, deleted: false, value }]);
  }
  model.commit((await store.delete(Buffer.from('gone'))).version, [{ bytes: Buffer.from('gone'), deleted: true }]);
  // 600 keys in one commit: a scan of the whole store spans three chunks of 256 keys.
  const spread = Array.from({ length: 600 }, (_, index) => ({ type: 'put' as const, key: `${SPREAD_PREFIX}${String(index).padStart(3, '0')}`, value: index }));
  model.commit((await store.batch(spread)).version, spread.map(({ key, value }) => ({ bytes: Buffer.from(key), deleted: false, value })));
  return { store, model };
}

/** After close: every method but stats() and metrics() refuses with StoreClosedError. */
async function expectClosed(store: Store): Promise<void> {
  const closed = refusalOf([ErrorCode.StoreClosed]);
  expectAsync('put after close', await settle('put after close', () => store.put('a', 1)), closed);
  expectAsync('batch([]) after close', await settle('batch after close', () => store.batch([])), closed);
  expectAsync('get after close', await settle('get after close', () => store.get('a')), closed);
  expectAsync('history after close', await settle('history after close', () => store.history('a')), closed);
  expectAsync('snapshot after close', await settle('snapshot after close', () => store.snapshot()), closed);
  expectAsync('checkpoint after close', await settle('checkpoint after close', () => store.checkpoint()), closed);
  expectAsync('compact after close', await settle('compact after close', () => store.compact()), closed);
  expectAsync('transaction after close', await settle('transaction after close', () => store.transaction(() => 1)), closed);
  expectAsync('transactionSync after close', await settle('transactionSync after close', () => store.transactionSync(() => 1)), closed);
  expectSync('stats after close', await settle('stats after close', () => store.stats()), refusalOf([]));
  const scan = await settle('scan after close', () => store.scan());
  if (scan.how === 'returned') expectAsync('scan after close', await settle('scan step', () => (scan.value as AsyncIterator<unknown>).next()), closed);
  else expectSync('scan after close', scan, closed);
}

/**
 * close() with a transaction's and a transactionSync's tx kept past their callbacks, a
 * snapshot held and a transaction still running: stats() answers while it closes, a
 * second close() at once resolves too, a put then is StoreClosedError; the kept tx
 * throw TransactionClosedError (README), the snapshot and the running transaction end
 * with StoreClosedError.
 */
async function closeWithHandles(store: Store): Promise<void> {
  type Kept = { put(key: string, value: unknown): void; get(key: string): unknown };
  let kept: Kept | undefined;
  let keptSync: Kept | undefined;
  await store.transaction((tx) => { kept = tx; });
  await store.transactionSync((tx) => { keptSync = tx; });
  const snapshot = await store.snapshot();
  let release: () => void = () => undefined;
  const running = store.transaction(async (tx) => {
    await new Promise<void>((resolve) => { release = resolve; });
    tx.put('late', 1);
  });
  // Settled from now on: close() rejects it at once, before it is awaited below.
  const runningEnding = settle('running transaction', () => running);
  const closing = store.close();
  expectSync('stats() while closing', await settle('stats while closing', () => store.stats()), refusalOf([]));
  expectAsync('put while closing', await settle('put while closing', () => store.put('a', 1)), refusalOf([ErrorCode.StoreClosed]));
  const second = store.close();
  expectAsync('close', await settle('close', () => closing), refusalOf([]));
  expectAsync('the second close', await settle('the second close', () => second), refusalOf([]));
  release();
  expectAsync('a transaction running at close', await runningEnding, refusalOf([ErrorCode.StoreClosed]));
  expectAsync('a held snapshot after close', await settle('snapshot get', () => snapshot.get('a')), refusalOf([ErrorCode.StoreClosed]));
  expectAsync('its release', await settle('snapshot release', () => snapshot.release()), refusalOf([]));
  for (const [name, tx] of [['transaction', kept], ['transactionSync', keptSync]] as const) {
    expectSync(`a ${name}'s tx.put after its callback`, await settle('tx.put', () => tx!.put('a', 1)), refusalOf([ErrorCode.TransactionClosed, ErrorCode.StoreClosed]));
    const read = await settle('tx.get', () => tx!.get('a'));
    if (read.how === 'threw') expectSync(`a ${name}'s tx.get after its callback`, read, refusalOf([ErrorCode.TransactionClosed, ErrorCode.StoreClosed]));
    else expectAsync(`a ${name}'s tx.get after its callback`, read, refusalOf([ErrorCode.TransactionClosed, ErrorCode.StoreClosed]));
  }
}

async function runCase(encoding: KeyEncoding, calls: Call[]): Promise<void> {
  const fileSystem = new FaultFileSystem(3);
  const { store, model } = await openKnown(fileSystem, encoding);
  const context = { store, model, encoding };
  try {
    for (const [index, call] of calls.entries()) {
      const what = `call ${index} (${call.call})`;
      if (call.call === 'put' || call.call === 'delete' || call.call === 'batch' || call.call === 'bulk' || call.call === 'transaction') await runWrite(what, context, call);
      else await runRead(what, context, call, `/scratch-${index}`);
      await expectContents(`after ${what}`, store, model, encoding, false);
    }
    await closeWithHandles(store);
    expectAsync('close again', await settle('close again', () => store.close()), refusalOf([]));
    await expectClosed(store);
  } finally {
    await store.close();
  }
  const reopened = await openStore('/db', { fileSystem, keyEncoding: encoding, maxValueBytes: VALUE_BYTES_MAX, segmentSizeBytes: BULK_SEGMENT_BYTES });
  try {
    await expectContents('after the reopen', reopened, model, encoding, true);
  } finally {
    await reopened.close();
  }
}

describe('bad input across the public API: a typed refusal, nothing stored changed', () => {
  it(`${RUNS} random sequences of calls (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<KeyEncoding>('utf8', 'binary'), fc.array(fc.oneof(writeCall, readCall), { minLength: 1, maxLength: 6 }), runCase),
      { seed: SEED, numRuns: RUNS, endOnFailure: false },
    );
  }, Math.max(60_000, RUNS * 500));
});
