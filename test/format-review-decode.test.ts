/**
 * docs/FORMAT.md describes every byte the store writes: a store made through the public
 * API (puts, deletes, several versions of keys, flushes, compactions down to the cold
 * tier, a lease, a backup, writes left in the WAL) is decoded file by file by a decoder
 * written from the document alone (test/format-review-decoder.ts,
 * test/format-review-run-decoder.ts): every magic, version, length, checksum, count,
 * order, padding and manifest record agrees with the text, no byte is left unexplained,
 * and the decoded keys, versions and values are exactly what was written.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { LadybugLevel } from '../src/level/index.js';
import { decodeBackupJson, decodeStoreDirectory, type DecodedStore, unpackr } from './format-review-decoder.js';
import { loadHash } from './format-review-hash.js';
import type { DecodedEntry } from './format-review-run-decoder.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

beforeAll(loadHash);
afterEach(removeTemporaryDirectories);

const RESERVED = '\u0000ladybug/';
type Written = { version: number; value?: unknown };

/** Every user key's versions, newest first, as decoded: runs, then the WAL past flushedVersion. */
function decodedHistory(store: DecodedStore, problems: string[], upTo = Infinity): { user: Map<string, Written[]>; reserved: DecodedEntry[] } {
  const byKey = new Map<string, Map<number, DecodedEntry>>();
  const add = (entry: DecodedEntry, where: string) => {
    if (entry.version > upTo) return;
    const name = entry.key.toString('utf8');
    const versions = byKey.get(name) ?? new Map<number, DecodedEntry>();
    const earlier = versions.get(entry.version);
    if (earlier && (earlier.kind !== entry.kind || !(earlier.value ?? Buffer.alloc(0)).equals(entry.value ?? Buffer.alloc(0)))) problems.push(`${where}: ${name}@${entry.version} held twice, differently`);
    versions.set(entry.version, entry);
    byKey.set(name, versions);
  };
  for (const run of store.runs) for (const entry of run.entries) add(entry, 'runs');
  for (const segment of store.segments) for (const commit of segment.commits) for (const operation of commit.operations) {
    if (commit.version > store.manifest.state.flushedVersion) add(operation, `wal-${segment.number}`);
  }
  const user = new Map<string, Written[]>();
  const reserved: DecodedEntry[] = [];
  for (const [name, versions] of byKey) {
    const list = [...versions.values()].sort((a, b) => b.version - a.version);
    if (name.startsWith(RESERVED)) { reserved.push(...list); continue; }
    user.set(name, list.map((entry) => (entry.kind === 'put' ? { version: entry.version, value: unpackr.unpack(entry.value!) } : { version: entry.version })));
  }
  return { user, reserved };
}

describe('docs/FORMAT.md read alone decodes every file of a store', () => {
  it('WAL, lock, manifest, runs of both tiers and a backup decode as documented, to exactly the data written', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const options = { memoryBudgetBytes: 32 * 1024 * 1024, authorize: (_name: string, authorization: unknown) => authorization === 'admin' };
    let store = await openStore(directory, options);
    const written = new Map<string, Written[]>();
    const record = (key: string, version: number, value?: unknown) => {
      written.set(key, [{ version, ...(value === undefined ? {} : { value }) }, ...(written.get(key) ?? [])]);
    };
    const key = (index: number) => (index % 13 === 0 ? `ключ-${index}` : `key-${String(index).padStart(5, '0')}`);
    const value = (index: number, round: number): unknown => (index % 4 === 0
      ? { index, round, text: `value ${index} of round ${round}`.repeat(index % 97 === 0 ? 400 : 1 + (index % 3)) }
      : index % 4 === 1 ? `round ${round} ${index}` : index % 4 === 2 ? [index, round, null, true] : index * 1000 + round);
    const round = async (number: number, from: number, to: number, step: number) => {
      for (let index = from; index < to; index += step) {
        const { version } = await store.put(key(index), value(index, number));
        record(key(index), version, value(index, number));
      }
    };
    await round(0, 0, 400, 1);
    for (let n = 0; n < 150; n++) { // one key's versions over several blocks and past a partition's page
      const text = `hot ${n} `.repeat(12);
      record('hot', (await store.put('hot', text)).version, text);
    }
    const wide = Array.from({ length: 60 }, (_, i) => ({ type: 'put' as const, key: `wide-${String(i).padStart(3, '0')}-${'w'.repeat(890)}`, value: i })); // index partitions of a few blocks each
    const wideVersion = (await store.batch(wide)).version;
    for (const operation of wide) record(operation.key, wideVersion, operation.value);
    const longKey = `long-${'k'.repeat(1019)}`; // 1024 bytes, the longest key
    const big = { blob: 'x'.repeat(100_000) }; // one entry over many pages
    record(longKey, (await store.put(longKey, big)).version, big);
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => store.put(key(i * 2), value(i * 2, 9)).then(({ version }) => [i * 2, version] as const)));
    for (const [index, version] of many) record(key(index), version, value(index, 9));
    const batch = await store.batch([{ type: 'put', key: key(3), value: value(3, 8) }, { type: 'del', key: key(5) }, { type: 'put', key: key(1501), value: 'batch' }]);
    record(key(3), batch.version, value(3, 8)); record(key(5), batch.version); record(key(1501), batch.version, 'batch');
    await store.checkpoint();
    await round(1, 0, 400, 3);
    await store.checkpoint();
    await store.compact();
    await round(2, 0, 400, 5);
    for (let index = 0; index < 400; index += 11) record(key(index), (await store.delete(key(index))).version);
    await store.checkpoint();
    await store.compact(); // the second tier: the cold (compressed) run
    const lease = await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 600_000 });
    expect(lease.token).toBeGreaterThan(0);
    const bound = await store.put('bound-key', { bound: true }, { lease: { name: 'jobs/nightly', token: lease.token } });
    record('bound-key', bound.version, { bound: true });
    const other = await store.leases.acquire('jobs/other', { owner: 'worker-8', ttlMs: 600_000 });
    await store.leases.forceRelease('jobs/other', { authorization: 'admin', reason: 'stuck', actor: 'ops' });
    const otherEnd = store.version;
    await round(3, 1500, 1600, 1);
    await store.checkpoint(); // a warm run beside the cold one
    const backup = await store.backup(backupDirectory);
    await round(4, 0, 1600, 13);
    for (let index = 1; index < 1600; index += 29) record(key(index), (await store.delete(key(index))).version);
    await store.leases.release('jobs/nightly', { owner: 'worker-7', token: lease.token }); // its end deletes the bound key
    record('bound-key', store.version);
    const finalVersion = store.version;
    await store.close();
    // the last writes stay in the WAL
    store = await openStore(directory, { ...options, checkpointOnClose: false });
    for (let cut = 0; cut < 4; cut++) { await round(5, 1600 + cut * 20, 1620 + cut * 20, 1); await store.checkpoint(); } // segments of earlier uses in the pool
    await round(6, 1700, 1704, 1); // fewer bytes than the earlier use of its segment wrote
    const group = await Promise.all([1704, 1705, 1706, 1707].map((index) => store.put(key(index), value(index, 6)).then(({ version }) => [index, version] as const)));
    for (const [index, version] of group) record(key(index), version, value(index, 6));
    const lastVersion = store.version;
    await store.close();
    expect(lastVersion).toBeGreaterThan(finalVersion);

    const problems: string[] = [];
    const decoded = decodeStoreDirectory(directory, problems)!;
    expect(decoded).toBeDefined();
    // format/compression/level: cold runs are merges' output at tier 2 or deeper, warm ones flushes (tier 0) or tier 1
    const formats = decoded.runs.map((run) => `${run.format}/${run.compression}/${run.level >= 2 ? 'tier 2+' : 'tier 0-1'}`);
    expect(formats).toContain('6/3/tier 2+');
    expect(formats).toContain('5/0/tier 0-1');
    expect(formats.every((format) => format === '6/3/tier 2+' || format === '5/0/tier 0-1')).toBe(true);
    expect(decoded.segments.some((segment) => segment.recordCommits.some((count) => count > 1))).toBe(true); // a group commit
    expect(decoded.manifest.records).toBeLessThanOrEqual(16); // a clean close leaves fewer than 16 edits since the last rewrite
    expect(decoded.manifest.formatVersion).toBe(3);
    // descriptor key strings: one char per key byte, in a msgpack str (UTF-8): ключ's byte d0 is c3 90 there
    const largest = decoded.manifest.state.runs.map((run) => run.largestKey).find((name) => name.startsWith('\u00d0'))!;
    const manifestBytes = readFileSync(join(directory, 'manifest', readdirSync(join(directory, 'manifest')).find((name) => name.endsWith('.a'))!));
    expect(manifestBytes.includes(Buffer.from(largest, 'utf8'))).toBe(true);
    expect(Buffer.from(largest, 'latin1').toString('utf8').startsWith('ключ-')).toBe(true);
    expect(decoded.manifest.state.reservedEntryCounts).toBe(true);
    expect(decoded.segments.some((segment) => segment.commits.length > 0)).toBe(true);
    expect(decoded.lock?.released).toBe(true);
    expect(Math.max(...decoded.runs.map((run) => run.partitions))).toBeGreaterThan(3);
    const history = decodedHistory(decoded, problems);
    expect(problems).toEqual([]);
    expect(Object.fromEntries(history.user)).toEqual(Object.fromEntries(written));
    const leaseRecord = history.reserved.find((entry) => entry.key.toString('utf8') === `${RESERVED}lease/jobs/nightly` && entry.kind === 'put');
    expect(leaseRecord).toBeDefined();
    const leaseValue = unpackr.unpack(leaseRecord!.value!) as Record<string, unknown>;
    expect(Object.keys(leaseValue).sort()).toEqual(['boundKeys', 'boundVersions', 'deadlineMs', 'expiresAtMs', 'instanceId', 'nonce', 'owner', 'ttlMs']);
    expect([leaseValue.owner, leaseValue.ttlMs]).toEqual(['worker-7', 600_000]);
    expect(leaseRecord!.version).toBeGreaterThanOrEqual(lease.token);
    const boundRecord = unpackr.unpack(history.reserved.find((entry) => entry.version === bound.version)!.value!) as { boundKeys: string[]; boundVersions: number[] };
    expect([boundRecord.boundKeys, boundRecord.boundVersions]).toEqual([['bound-key'], [0]]);
    const audit = history.reserved.filter((entry) => entry.key.toString('utf8') === `${RESERVED}lease-audit/jobs/other`);
    expect(audit.map((entry) => [entry.version, entry.kind])).toEqual([[otherEnd, 'put']]);
    expect(unpackr.unpack(audit[0]!.value!)).toMatchObject({ action: 'force-release', actor: 'ops', reason: 'stuck', previousOwner: 'worker-8' });
    expect(history.reserved.filter((entry) => entry.key.toString('utf8') === `${RESERVED}lease/jobs/other`).map((entry) => [entry.version, entry.kind]))
      .toEqual([[otherEnd, 'delete'], [other.token, 'put']]);
    expect(decoded.segments.some((segment) => segment.recycledTail && segment.commits.length > 0)).toBe(true);

    const backupProblems: string[] = [];
    const body = decodeBackupJson(backupDirectory, backupProblems);
    const fromBackup = decodeStoreDirectory(backupDirectory, backupProblems, true)!;
    expect(body.version).toBe(backup.version);
    expect(body.files.map((file) => file.path).sort()).toEqual([
      'manifest/MANIFEST-0000000001.a', 'manifest/MANIFEST-0000000001.b', ...fromBackup.runs.map((_, i) => `runs/${fromBackup.manifest.state.runs[i]!.fileName}`),
    ].sort());
    const state = fromBackup.manifest.state;
    expect(fromBackup.manifest.firstSequence).toBe(1); // a new manifest's first record
    expect([fromBackup.manifest.generation, fromBackup.manifest.formatVersion, state.walStartSegment, state.flushedVersion, state.versionHighWater, state.reservedEntryCounts, state.versionTimes])
      .toEqual([1, 3, 1, backup.version, backup.version, true, undefined]);
    expect(fromBackup.segments).toEqual([]);
    const backupHistory = decodedHistory(fromBackup, backupProblems);
    expect(backupProblems).toEqual([]);
    const writtenAtBackup = new Map([...written].map(([name, list]) => [name, list.filter((entry) => entry.version <= backup.version)] as const).filter(([, list]) => list.length > 0));
    expect(Object.fromEntries(backupHistory.user)).toEqual(Object.fromEntries(writtenAtBackup));
  });

  it('retention writes markers, versionTimes and a floor as documented; binary keys and byte values are their raw bytes', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { keyEncoding: 'binary', maxVersionsPerKey: 1, retainVersionsMs: 1 });
    const latest = new Map<string, Written>();
    const key = (index: number) => Buffer.from([0x01, index % 256, 0xff, 0x80 + (index % 7)]);
    const value = (index: number, round: number): unknown => [Buffer.from([index % 256, round]), new Uint8Array([round, 1, 2]), BigInt(index) * 10n ** 20n, new Date(1_700_000_000_000 + index), `r${round}`][index % 5];
    for (let round = 0; round < 4; round++) {
      for (let index = 0; index < 300; index += round + 1) {
        if (round === 3) await store.put(key(index), 'overwritten before the flush'); // a trimmed chain: the flush writes a marker
        const { version } = await store.put(key(index), value(index, round));
        latest.set(key(index).toString('latin1'), { version, value: value(index, round) });
      }
      if (round === 1) for (let index = 0; index < 300; index += 13) latest.set(key(index).toString('latin1'), { version: (await store.delete(key(index))).version });
      await store.checkpoint();
      if (round === 2) await store.compact({ retainFrom: store.version });
    }
    await store.compact(); // maxVersionsPerKey 1: older versions make way for markers
    const floor = store.stats().storage.compaction.retentionFloor;
    await store.close();

    const problems: string[] = [];
    const decoded = decodeStoreDirectory(directory, problems)!;
    expect(problems).toEqual([]);
    const state = decoded.manifest.state;
    expect(state.retentionFloor).toBe(floor);
    expect(floor).toBeGreaterThan(0);
    const times = state.versionTimes ?? [];
    expect(times.length).toBeGreaterThan(0);
    expect(times.length).toBeLessThanOrEqual(1024);
    for (let i = 0; i < times.length; i++) {
      expect(times[i]!.length).toBe(2);
      if (i > 0) expect(times[i]![0] > times[i - 1]![0] && times[i]![1] >= times[i - 1]![1]).toBe(true);
    }
    const newest = new Map<string, DecodedEntry>();
    let markers = 0;
    for (const entry of decoded.runs.flatMap((run) => run.entries)) {
      if (entry.kind === 'put' && entry.value!.length === 1 && entry.value![0] === 0xc1) { markers++; continue; }
      const name = entry.key.toString('latin1');
      if (name.startsWith(RESERVED)) continue;
      if ((newest.get(name)?.version ?? -1) < entry.version) newest.set(name, entry);
    }
    expect(markers).toBeGreaterThan(0);
    // a Buffer value is a msgpack bin, a plain Uint8Array msgpackr's typed-array extension (ext type 0x74, subtype 1)
    const stored = (index: number) => [...newest.get(key(index).toString('latin1'))!.value!.subarray(0, 4)];
    expect(stored(5)).toEqual([0xc4, 2, 5, 0]);
    expect(stored(1)).toEqual([0xc7, 4, 0x74, 1]);
    const decodedLatest = new Map([...newest].map(([name, entry]) => [name, entry.kind === 'put' ? { version: entry.version, value: unpackr.unpack(entry.value!) } : { version: entry.version }] as const));
    // a delete visible at the floor is dropped with everything older once the oldest run is merged
    const expected = [...latest].filter(([, written]) => 'value' in written || written.version > floor);
    expect(Object.fromEntries(decodedLatest)).toEqual(Object.fromEntries(expected));
  });

  it('the level adapter stores level keys as themselves and values as bytes, the empty key and 0x00 in the pair slot', async () => {
    const directory = temporaryDirectory();
    const db = new LadybugLevel<Uint8Array, Uint8Array>(directory, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await db.put(new Uint8Array([]), new Uint8Array([1, 2]));
    await db.put(new Uint8Array([0]), new Uint8Array([3]));
    await db.put(new Uint8Array([0x61, 0xff]), new Uint8Array([4, 5, 6]));
    await db.put(new Uint8Array([0x62]), Buffer.from([7]), { valueEncoding: 'buffer' });
    await db.close();
    const problems: string[] = [];
    const decoded = decodeStoreDirectory(directory, problems)!;
    expect(problems).toEqual([]);
    const raw = [...decoded.runs.flatMap((run) => run.entries), ...decoded.segments.flatMap((segment) => segment.commits.flatMap((commit) => commit.operations))]
      .filter((operation) => !operation.key.toString('latin1').startsWith(RESERVED));
    const byKey = new Map(raw.sort((a, b) => a.version - b.version).map((operation) => [operation.key.toString('hex'), operation.value!] as const)); // newest last
    expect([...byKey.keys()].sort()).toEqual(['00', '61ff', '62']);
    expect([...byKey.get('62')!]).toEqual([0xc4, 1, 7]); // a Buffer handed over as it is: a msgpack bin
    // a Uint8Array (the view encoding's form), stored as msgpackr's typed-array extension: ext 8, type 0x74, subtype 1
    expect([...byKey.get('61ff')!]).toEqual([0xc7, 4, 0x74, 1, 4, 5, 6]);
    // the pair slot: a msgpack array (fixarray 2) of [value of the empty key, value of 0x00], each such a byte value
    expect([...byKey.get('00')!]).toEqual([0x92, 0xc7, 3, 0x74, 1, 1, 2, 0xc7, 2, 0x74, 1, 3]);
    expect(unpackr.unpack(byKey.get('00')!)).toEqual([new Uint8Array([1, 2]), new Uint8Array([3])]);
  });
});
