/**
 * The call sites of input-review-fuzz.test.ts: each public method with the bad input in one
 * argument or option, and the pool inputs README accepts there (input-review-fuzz's POOL
 * names; every other one must be refused with a documented code).
 */
import { openStore, restoreBackup, verifyBackup, type Store } from '../src/index.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';

export interface SiteContext { store: Store; fileSystem: FaultFileSystem; key: string; unique: string }

export interface Site {
  name: string;
  call: (context: SiteContext, input: unknown) => unknown;
  accepts: readonly string[];
  /** The method returns a promise: a refusal must reject, never throw. */
  promise: boolean;
  /** An accepted call wrote the input as the value of context.key. */
  writesValue?: boolean;
  /** The input may be an AbortSignal option: an aborted one may end the call with its reason (README). */
  signal?: boolean;
  /** Inputs not tried here (a valid input that makes the call legitimately slow or endless). */
  skip?: readonly string[];
}

const EMPTY = ['undefined', 'emptyObject', 'frozen', 'nullPrototype'];
const KEY = ['string'];
const VALUE = [
  'null', 'zero', 'negativeZero', 'NaN', 'Infinity', 'minusInfinity', 'minusOne', 'fraction', 'twoTo53', 'unsafe', 'huge', 'twoTo31', 'true',
  'emptyString', 'string', 'longString', 'bigint', 'emptyObject', 'emptyArray', 'frozen', 'nullPrototype', 'abortedSignal', 'date', 'map',
  'emptyBytes', 'floats', 'unknownName', 'classInstance',
];
const VERSION = ['undefined', 'zero', 'negativeZero'];
const LIMIT = ['undefined', 'zero', 'negativeZero', 'Infinity', 'twoTo53', 'unsafe', 'huge', 'twoTo31'];
const EVERYTHING = [...VALUE, 'undefined', 'symbol', 'function', 'loneSurrogate', 'ownProto', 'proxy', 'throwingGetter', 'promise'];

const site = (name: string, accepts: readonly string[], call: Site['call'], more: Partial<Site> = {}): Site => ({ name, accepts, call, promise: true, ...more });
const syncSite = (name: string, accepts: readonly string[], call: Site['call'], more: Partial<Site> = {}): Site => site(name, accepts, call, { promise: false, ...more });
const option = (name: string, value: unknown): object => ({ [name]: value });

/** A scan's first step, then its end; scan() itself throws a refusal synchronously. */
function firstStep(iterator: AsyncIterableIterator<unknown>): Promise<unknown> {
  return iterator.next().finally(() => iterator.return?.());
}

async function opened(open: Promise<Store>): Promise<void> {
  await (await open).close();
}

async function withSnapshot<T>(store: Store, read: (snapshot: Awaited<ReturnType<Store['snapshot']>>) => Promise<T>): Promise<T> {
  const snapshot = await store.snapshot();
  try {
    return await read(snapshot);
  } finally {
    await snapshot.release();
  }
}

const OPEN_OPTIONS: [string, readonly string[]][] = [
  ['maxValueBytes', ['undefined']], ['maxVersionsPerKey', ['undefined', 'Infinity', 'twoTo31']], ['retainVersionsMs', ['undefined', 'zero', 'negativeZero', 'twoTo31']],
  ['segmentSizeBytes', ['undefined']], ['keyEncoding', ['undefined']], ['repair', ['undefined', 'true']], ['syncMode', ['undefined']], ['fileSystem', []],
  ['debug', ['undefined', 'true']], ['snapshotMaxAgeMs', ['undefined', 'Infinity']], ['transactionLifetimeMs', ['undefined']],
  ['memoryBudgetBytes', ['undefined', 'twoTo31']], ['walCheckpointBytes', ['undefined', 'twoTo31']], ['checkpointOnClose', ['undefined', 'true']],
  ['authorize', ['undefined', 'function']], ['leaseTtlMsMax', ['undefined']], ['scrubIntervalMs', ['undefined']], ['scrubBytesPerSecond', ['undefined', 'twoTo31']],
];

const SCAN_OPTIONS: [string, readonly string[]][] = [
  ['gt', ['undefined', 'string']], ['gte', ['undefined', 'string']], ['lt', ['undefined', 'string']], ['lte', ['undefined', 'string']],
  ['reverse', ['undefined', 'true']], ['limit', LIMIT], ['asOf', VERSION],
];

const WATCH_OPTIONS: [string, readonly string[]][] = [
  ['gte', ['undefined', 'string']], ['lt', ['undefined', 'string']], ['sinceVersion', ['undefined', 'zero', 'negativeZero', 'twoTo31']],
  ['untilVersion', ['undefined', 'zero', 'negativeZero', 'twoTo31']], ['includeReserved', ['undefined', 'true']], ['catchUpBatchChanges', ['undefined']], ['signal', ['undefined']],
];

export function fuzzSites(): Site[] {
  return [
    site('openStore directory', ['string', 'loneSurrogate', 'longString'], ({ fileSystem }, v) => opened(openStore(v as string, { fileSystem }))),
    // fileSystem undefined would open on the real disk: not tried.
    ...OPEN_OPTIONS.map(([name, accepts]) => site(`openStore ${name}`, accepts, ({ fileSystem, unique }, v) => opened(openStore(`/open-${unique}`, { fileSystem, ...option(name, v) })), { skip: name === 'fileSystem' ? ['undefined'] : [] })),
    site('put key', KEY, ({ store }, v) => store.put(v as string, 1)),
    site('put value', VALUE, ({ store, key }, v) => store.put(key, v), { writesValue: true }),
    site('put options', EMPTY, ({ store }, v) => store.put('w/options', 1, v as never)),
    site('put lease', ['undefined'], ({ store }, v) => store.put('w/lease', 1, { lease: v } as never)),
    site('put fence', ['undefined'], ({ store }, v) => store.put('w/fence', 1, { fence: v } as never)),
    site('delete key', KEY, ({ store }, v) => store.delete(v as string)),
    site('delete options', EMPTY, ({ store }, v) => store.delete('w/none', v as never)),
    site('batch operations', ['emptyArray'], ({ store }, v) => store.batch(v as never)),
    site('batch operation', [], ({ store }, v) => store.batch([v] as never)),
    site('batch options', EMPTY, ({ store }, v) => store.batch([], v as never)),
    site('batch, a valid put then this key', KEY, ({ store, key }, v) => store.batch([{ type: 'put', key, value: 1 }, { type: 'put', key: v, value: 2 }] as never)),
    site('batch, a valid put then this value', VALUE, ({ store, key }, v) => store.batch([{ type: 'put', key: `${key}-first`, value: 1 }, { type: 'put', key, value: v }]), { writesValue: true }),
    site('batch, a valid put then this type', [], ({ store, key }, v) => store.batch([{ type: 'put', key, value: 1 }, { type: v, key: `${key}-second`, value: 2 }] as never)),
    site('get key', KEY, ({ store }, v) => store.get(v as string)),
    site('get options', EMPTY, ({ store }, v) => store.get('a', v as never)),
    site('get asOf', VERSION, ({ store }, v) => store.get('a', { asOf: v as number })),
    site('history key', KEY, ({ store }, v) => store.history(v as string)),
    site('history options', EMPTY, ({ store }, v) => store.history('a', v as never)),
    site('history limit', LIMIT, ({ store }, v) => store.history('a', { limit: v as number })),
    syncSite('scan options', EMPTY, ({ store }, v) => firstStep(store.scan(v as never))),
    // Below 'z' unless the bound is the input: the binary key 0xff00, which a utf8 scan refuses, may be the first key reached.
    ...SCAN_OPTIONS.map(([name, accepts]) => syncSite(`scan ${name}`, accepts, ({ store }, v) => firstStep(store.scan(name === 'lt' || name === 'lte' ? option(name, v) : { lt: 'z', ...option(name, v) })))),
    site('snapshot argument', ['undefined'], async ({ store }, v) => { await (await store.snapshot(v as never)).release(); }),
    site('snapshot get key', KEY, ({ store }, v) => withSnapshot(store, (snapshot) => snapshot.get(v as string))),
    site('snapshot get options', EMPTY, ({ store }, v) => withSnapshot(store, (snapshot) => snapshot.get('a', v as never))),
    site('snapshot history options', EMPTY, ({ store }, v) => withSnapshot(store, (snapshot) => snapshot.history('a', v as never))),
    site('snapshot scan options', EMPTY, ({ store }, v) => withSnapshot(store, (snapshot) => firstStep(snapshot.scan(v as never)))),
    site('snapshot release argument', EVERYTHING, async ({ store }, v) => { const snapshot = await store.snapshot(); await (snapshot.release as (argument: unknown) => Promise<void>)(v); }),
    site('transaction body', ['function'], ({ store }, v) => store.transaction(v as never)),
    site('transaction options', EMPTY, ({ store }, v) => store.transaction(() => 1, v as never)),
    site('transaction isolation', ['undefined'], ({ store }, v) => store.transaction(() => 1, { isolation: v as never })),
    site('transaction retries', VERSION, ({ store }, v) => store.transaction(() => 1, { retries: v as number })),
    site('transaction signal', ['undefined'], ({ store }, v) => store.transaction(() => 1, { signal: v as AbortSignal }), { signal: true }),
    site('tx.put key', KEY, ({ store }, v) => store.transaction((tx) => { tx.put(v as string, 1); })),
    site('tx.put value', VALUE, ({ store, key }, v) => store.transaction((tx) => { tx.put(key, v); }), { writesValue: true }),
    site('tx.delete key', KEY, ({ store }, v) => store.transaction((tx) => { tx.delete(v as string); })),
    site('tx.get key', KEY, ({ store }, v) => store.transaction((tx) => tx.get(v as string))),
    site('tx.get options', EMPTY, ({ store }, v) => store.transaction((tx) => tx.get('a', v as never))),
    site('tx.scan options', EMPTY, ({ store }, v) => store.transaction((tx) => firstStep(tx.scan(v as never)))),
    site('tx.requireLease name', [], ({ store }, v) => store.transaction((tx) => tx.requireLease(v as string, 1))),
    site('tx.requireLease token', [], ({ store }, v) => store.transaction((tx) => tx.requireLease('no-such-lease', v as number))),
    site('transactionSync body', ['function'], ({ store }, v) => store.transactionSync(v as never)),
    site('transactionSync options', ['undefined'], ({ store }, v) => store.transactionSync(() => 1, v as never)),
    site('transactionSync put key', KEY, ({ store }, v) => store.transactionSync((tx) => { tx.put(v as string, 1); })),
    site('transactionSync put value', VALUE, ({ store, key }, v) => store.transactionSync((tx) => { tx.put(key, v); }), { writesValue: true }),
    site('transactionSync delete key', KEY, ({ store }, v) => store.transactionSync((tx) => { tx.delete(v as string); })),
    site('transactionSync get key', KEY, ({ store }, v) => store.transactionSync((tx) => tx.get(v as string))),
    site('checkpoint argument', ['undefined'], ({ store }, v) => store.checkpoint(v as never)),
    site('compact options', EMPTY, ({ store }, v) => store.compact(v as never)),
    site('compact gte', ['undefined', 'string'], ({ store }, v) => store.compact({ gte: v as string })),
    site('compact lt', ['undefined', 'string'], ({ store }, v) => store.compact({ lt: v as string })),
    site('compact retainFrom', VERSION, ({ store }, v) => store.compact({ retainFrom: v as number })),
    site('compact onProgress', ['undefined', 'function'], ({ store }, v) => store.compact({ onProgress: v as never })),
    site('scrub options', EMPTY, ({ store }, v) => store.scrub(v as never)),
    site('scrub signal', ['undefined', 'abortedSignal'], ({ store }, v) => store.scrub({ signal: v as AbortSignal })),
    // A rate of 1.5 bytes a second is valid and paces a scrub of the store over hours.
    site('scrub bytesPerSecond', ['undefined', 'twoTo31'], ({ store }, v) => store.scrub({ bytesPerSecond: v as number }), { skip: ['fraction'] }),
    site('scrub onProgress', ['undefined', 'function'], ({ store }, v) => store.scrub({ onProgress: v as never })),
    syncSite('stats argument', ['undefined'], ({ store }, v) => store.stats(v as never)),
    syncSite('metrics options', EMPTY, ({ store }, v) => store.metrics(v as never)),
    syncSite('metrics format', ['undefined'], ({ store }, v) => store.metrics({ format: v as never })),
    site('backup directory', [], ({ store }, v) => store.backup(v as string)),
    site('backup options', EMPTY, ({ store, unique }, v) => store.backup(`/backup-${unique}`, v as never)),
    site('backup signal', ['undefined'], ({ store, unique }, v) => store.backup(`/backup-${unique}`, { signal: v as AbortSignal }), { signal: true }),
    site('backup onProgress', ['undefined', 'function'], ({ store, unique }, v) => store.backup(`/backup-${unique}`, { onProgress: v as never })),
    site('backup link', ['undefined', 'true'], ({ store, unique }, v) => store.backup(`/backup-${unique}`, { link: v as boolean })),
    site('restoreBackup from', [], ({ fileSystem, unique }, v) => restoreBackup(v as string, `/restored-${unique}`, { fileSystem })),
    site('restoreBackup to', [], ({ fileSystem }, v) => restoreBackup('/backup', v as string, { fileSystem })),
    site('restoreBackup signal', ['undefined'], ({ fileSystem, unique }, v) => restoreBackup('/backup', `/restored-${unique}`, { fileSystem, signal: v as AbortSignal }), { signal: true }),
    site('restoreBackup onProgress', ['undefined', 'function'], ({ fileSystem, unique }, v) => restoreBackup('/backup', `/restored-${unique}`, { fileSystem, onProgress: v as never })),
    site('verifyBackup directory', [], ({ fileSystem }, v) => verifyBackup(v as string, { fileSystem })),
    // No fileSystem can ride in these options: a path that does not exist on the real disk (verify only reads).
    site('verifyBackup options', EMPTY, (_context, v) => verifyBackup('/input-review-no-such-backup', v as never)),
    site('leases.acquire name', KEY, ({ store }, v) => store.leases.acquire(v as string, { owner: 'o', ttlMs: 60_000 })),
    site('leases.acquire options', [], ({ store, unique }, v) => store.leases.acquire(`lease-${unique}`, v as never)),
    site('leases.acquire owner', KEY, ({ store, unique }, v) => store.leases.acquire(`lease-${unique}`, { owner: v as string, ttlMs: 60_000 })),
    site('leases.acquire ttlMs', [], ({ store, unique }, v) => store.leases.acquire(`lease-${unique}`, { owner: 'o', ttlMs: v as number })),
    site('leases.acquire waitMs', VERSION, ({ store, unique }, v) => store.leases.acquire(`lease-${unique}`, { owner: 'o', ttlMs: 60_000, waitMs: v as number })),
    site('leases.acquire signal', ['undefined'], ({ store, unique }, v) => store.leases.acquire(`lease-${unique}`, { owner: 'o', ttlMs: 60_000, signal: v as AbortSignal }), { signal: true }),
    site('leases.renew options', [], ({ store }, v) => store.leases.renew('no-such-lease', v as never)),
    site('leases.renew ttlMs', [], ({ store }, v) => store.leases.renew('no-such-lease', { owner: 'o', token: 1, ttlMs: v as number })),
    site('leases.release options', [], ({ store }, v) => store.leases.release('no-such-lease', v as never)),
    site('leases.release token', [], ({ store }, v) => store.leases.release('no-such-lease', { owner: 'o', token: v as number })),
    site('leases.forceRelease options', [], ({ store }, v) => store.leases.forceRelease('no-such-lease', v as never)),
    site('leases.get name', KEY, ({ store }, v) => store.leases.get(v as string)),
    site('leases.list options', EMPTY, ({ store }, v) => store.leases.list(v as never)),
    site('leases.list prefix', ['undefined', 'emptyString', 'string'], ({ store }, v) => store.leases.list({ prefix: v as string })),
    syncSite('leases.stats argument', ['undefined'], ({ store }, v) => store.leases.stats(v as never)),
    // Without sinceVersion and untilVersion a watch follows forever: the accepted forms are not tried.
    syncSite('watch options', [], ({ store }, v) => store.watch(v as never).next(), { skip: EMPTY }),
    ...WATCH_OPTIONS.map(([name, accepts]) => syncSite(`watch ${name}`, accepts, ({ store }, v) => firstStep(store.watch({ sinceVersion: 0, untilVersion: 3, ...option(name, v) })), { signal: name === 'signal' })),
  ];
}
