/**
 * The whole public API on a real directory (temporaryDirectory()): put, get, delete,
 * batch, scan (every bound, reverse, limit, asOf, binary keys), history, as-of reads,
 * retention, scans that outlive concurrent writes, stats, and reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchTooLargeError,
  ErrorCode,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  openStore,
  StoreLockedError,
  ValueTooLargeError,
  VersionNotRetainedError,
  type ScanOptions,
  type Store,
  type StoreOptions,
} from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const SMALL: StoreOptions = { segmentSizeBytes: 64 * 1024, maxValueBytes: 16 * 1024 };

async function collect(store: Store, options?: ScanOptions): Promise<Array<[unknown, unknown]>> {
  const entries: Array<[unknown, unknown]> = [];
  for await (const entry of store.scan(options)) entries.push(entry);
  return entries;
}

const keysOf = (entries: Array<[unknown, unknown]>) => entries.map(([key]) => key);

async function withStore<T>(options: StoreOptions, body: (store: Store, directory: string) => Promise<T>): Promise<T> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, options);
  try {
    return await body(store, directory);
  } finally {
    await store.close();
  }
}

describe('put, get, delete, batch', () => {
  it('returns consecutive versions and reads back what was written', async () => {
    await withStore(SMALL, async (store) => {
      expect(store.version).toBe(0);
      expect(await store.put('a', 'one')).toEqual({ version: 1 });
      expect(await store.put('b', { nested: [1, 2, { deep: null }] })).toEqual({ version: 2 });
      expect(await store.put(new Uint8Array([0, 255]), 42n)).toEqual({ version: 3 });
      expect(await store.get('a')).toBe('one');
      expect(await store.get('b')).toEqual({ nested: [1, 2, { deep: null }] });
      expect(await store.get(new Uint8Array([0, 255]))).toBe(42n);
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.delete('a')).toEqual({ version: 4 });
      expect(await store.get('a')).toBeUndefined();
      // Deleting a missing key is still a commit.
      expect(await store.delete('never')).toEqual({ version: 5 });
      expect(store.version).toBe(5);
    });
  });

  it('a batch is atomic, has one version, and the last operation on a key wins', async () => {
    await withStore(SMALL, async (store) => {
      await store.put('x', 'old');
      const result = await store.batch([
        { type: 'put', key: 'y', value: 1 },
        { type: 'del', key: 'x' },
        { type: 'put', key: 'z', value: 2 },
        { type: 'put', key: 'y', value: 3 },
      ]);
      expect(result).toEqual({ version: 2 });
      expect(await collect(store)).toEqual([['y', 3], ['z', 2]]);
      expect(await collect(store, { asOf: 1 })).toEqual([['x', 'old']]);
      // An empty batch commits nothing.
      expect(await store.batch([])).toEqual({ version: 2 });
      expect(store.stats().commits).toBe(2);
    });
  });

  it('a refused call changes nothing: a bad operation anywhere in a batch refuses all of it', async () => {
    await withStore(SMALL, async (store) => {
      await store.put('keep', 1);
      await expect(store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'b', value: () => 1 }])).rejects.toBeInstanceOf(InvalidValueError);
      await expect(store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: '', value: 1 }])).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'nope', key: 'b' } as never])).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'operations' });
      await expect(store.batch('not an array' as never)).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(store.batch([null as never])).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(store.put('big', 'x'.repeat(20 * 1024))).rejects.toBeInstanceOf(ValueTooLargeError);
      await expect(store.put('u', undefined)).rejects.toMatchObject({ code: ErrorCode.InvalidValue });
      await expect(store.put(5 as never, 1)).rejects.toMatchObject({ code: ErrorCode.InvalidKey, reason: 'type' });
      await expect(store.delete('\uD800')).rejects.toMatchObject({ code: ErrorCode.InvalidKey, reason: 'malformed' });
      await expect(store.get('')).rejects.toMatchObject({ reason: 'empty' });
      // A batch over what one segment holds: refused as a whole.
      const tooBig = Array.from({ length: 8 }, (_, n) => ({ type: 'put' as const, key: `k${n}`, value: 'v'.repeat(10_000) }));
      await expect(store.batch(tooBig)).rejects.toBeInstanceOf(BatchTooLargeError);
      expect(store.version).toBe(1);
      expect(await collect(store)).toEqual([['keep', 1]]);
      expect(store.stats()).toMatchObject({ commits: 1, rejectedCommits: 0, versions: 1 });
    });
  });

  it('objects are copies: mutating what was written or read never changes the store', async () => {
    await withStore(SMALL, async (store) => {
      const written = { list: [1], inner: { n: 1 } };
      await store.put('o', written);
      written.list.push(2);
      written.inner.n = 99;
      const read = (await store.get('o')) as typeof written;
      expect(read).toEqual({ list: [1], inner: { n: 1 } });
      read.list.push(3);
      read.inner.n = 7;
      expect(await store.get('o')).toEqual({ list: [1], inner: { n: 1 } });
      const scanned = (await collect(store))[0]![1] as typeof written;
      scanned.inner.n = 5;
      expect(await store.get('o')).toEqual({ list: [1], inner: { n: 1 } });
      const [entry] = await store.history('o');
      (entry!.value as typeof written).list.length = 0;
      expect(await store.get('o')).toEqual({ list: [1], inner: { n: 1 } });
    });
  });

  it('Uint8Array, Date and bigint values round trip, also after reopen', async () => {
    const directory = temporaryDirectory();
    const values = { bytes: new Uint8Array([1, 2, 250]), date: new Date(Date.UTC(2020, 0, 2)), big: -(2n ** 60n), mixed: { at: new Date(5), raw: new Uint8Array([7]) } };
    const store = await openStore(directory, SMALL);
    for (const [key, value] of Object.entries(values)) await store.put(key, value);
    const check = async (handle: Store) => {
      expect(await handle.get('bytes')).toEqual(new Uint8Array([1, 2, 250]));
      expect(await handle.get('date')).toEqual(new Date(Date.UTC(2020, 0, 2)));
      expect(await handle.get('big')).toBe(-(2n ** 60n));
      const mixed = (await handle.get('mixed')) as { at: Date; raw: Uint8Array };
      expect(mixed.at).toBeInstanceOf(Date);
      expect(mixed.at.getTime()).toBe(5);
      expect([...mixed.raw]).toEqual([7]);
    };
    await check(store);
    await store.close();
    const reopened = await openStore(directory, SMALL);
    await check(reopened);
    await reopened.close();
  });

  it('an acknowledged value can always be read back and the store reopened', async () => {
    // BUG (src/codec/values.ts prepareValue + src/store/open-store.ts recovery): a Map with
    // a non-string key is accepted and acknowledged, but msgpackr cannot decode it: get,
    // scan and history throw a plain Error, and recovery throws on the record, so the
    // store can never be opened again, not even with { repair: true }.
    const directory = temporaryDirectory();
    const store = await openStore(directory, SMALL);
    await store.put('fine', 1);
    const accepted = await store.put('map', new Map<unknown, unknown>([[{ id: 1 }, 'x']])).then(() => true, (error: unknown) => {
      expect(error).toBeInstanceOf(InvalidValueError);
      return false;
    });
    const problems: string[] = [];
    const attempt = async (what: string, action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message.slice(0, 60)}`);
      }
    };
    if (accepted) {
      await attempt('get', async () => expect(await store.get('map')).toBeInstanceOf(Map));
      await attempt('scan', () => collect(store));
      await attempt('history', () => store.history('map'));
    }
    await store.close();
    await attempt('reopen', async () => {
      const reopened = await openStore(directory, SMALL);
      expect(await reopened.get('fine')).toBe(1);
      await reopened.close();
    });
    await attempt('reopen with repair', async () => {
      const repaired = await openStore(directory, { ...SMALL, repair: true });
      await repaired.close();
    });
    expect(problems).toEqual([]);
  });

  it('a second handle on the same directory is refused with StoreLockedError', async () => {
    await withStore(SMALL, async (store, directory) => {
      await expect(openStore(directory, SMALL)).rejects.toBeInstanceOf(StoreLockedError);
      await expect(openStore(directory, SMALL)).rejects.toMatchObject({ code: ErrorCode.StoreLocked, holderPid: process.pid });
      expect(await store.put('still', 'usable')).toEqual({ version: 1 });
    });
  });
});

describe('scan', () => {
  const keys = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape'];

  async function fruitStore<T>(body: (store: Store) => Promise<T>, options: StoreOptions = SMALL): Promise<T> {
    return withStore(options, async (store) => {
      for (const key of keys) await store.put(key, key.toUpperCase());
      return body(store);
    });
  }

  it('returns every live entry in key order, or reverse', async () => {
    await fruitStore(async (store) => {
      await store.delete('date');
      expect(keysOf(await collect(store))).toEqual(['apple', 'banana', 'cherry', 'elder', 'fig', 'grape']);
      expect(keysOf(await collect(store, { reverse: true }))).toEqual(['grape', 'fig', 'elder', 'cherry', 'banana', 'apple']);
      expect((await collect(store))[0]).toEqual(['apple', 'APPLE']);
    });
  });

  it('honours gt, gte, lt, lte (on and between keys), in both directions', async () => {
    await fruitStore(async (store) => {
      expect(keysOf(await collect(store, { gt: 'banana', lt: 'elder' }))).toEqual(['cherry', 'date']);
      expect(keysOf(await collect(store, { gte: 'banana', lte: 'elder' }))).toEqual(['banana', 'cherry', 'date', 'elder']);
      expect(keysOf(await collect(store, { gte: 'c', lt: 'f' }))).toEqual(['cherry', 'date', 'elder']);
      expect(keysOf(await collect(store, { gt: 'c', lte: 'fz' }))).toEqual(['cherry', 'date', 'elder', 'fig']);
      expect(keysOf(await collect(store, { gt: 'banana', lt: 'elder', reverse: true }))).toEqual(['date', 'cherry']);
      expect(keysOf(await collect(store, { gte: 'banana', lte: 'elder', reverse: true }))).toEqual(['elder', 'date', 'cherry', 'banana']);
      expect(keysOf(await collect(store, { lt: 'cherry' }))).toEqual(['apple', 'banana']);
      expect(keysOf(await collect(store, { lte: 'cherry', reverse: true }))).toEqual(['cherry', 'banana', 'apple']);
      expect(keysOf(await collect(store, { gt: 'fig' }))).toEqual(['grape']);
      expect(keysOf(await collect(store, { gte: 'fig', reverse: true }))).toEqual(['grape', 'fig']);
      expect(await collect(store, { gt: 'grape' })).toEqual([]);
      expect(await collect(store, { gte: 'z', lte: 'a' })).toEqual([]);
    });
  });

  it('stops at limit in both directions; limit 0 returns nothing', async () => {
    await fruitStore(async (store) => {
      expect(keysOf(await collect(store, { limit: 2 }))).toEqual(['apple', 'banana']);
      expect(keysOf(await collect(store, { limit: 3, reverse: true, lt: 'fig' }))).toEqual(['elder', 'date', 'cherry']);
      expect(await collect(store, { limit: 0 })).toEqual([]);
      expect(await collect(store, { limit: 100 })).toHaveLength(keys.length);
    });
  });

  it('reads as of a past version with asOf', async () => {
    await fruitStore(async (store) => {
      await store.put('apple', 'green');
      await store.delete('banana');
      await store.put('aardvark', 'new');
      expect(await collect(store, { asOf: 2 })).toEqual([['apple', 'APPLE'], ['banana', 'BANANA']]);
      expect(await collect(store, { asOf: 0 })).toEqual([]);
      expect(keysOf(await collect(store, { asOf: 9 }))).toEqual(['apple', 'cherry', 'date', 'elder', 'fig', 'grape']);
      expect((await collect(store, { asOf: 8, limit: 1 }))).toEqual([['apple', 'green']]);
      expect(keysOf(await collect(store))).toEqual(['aardvark', 'apple', 'cherry', 'date', 'elder', 'fig', 'grape']);
      expect(keysOf(await collect(store, { asOf: 9, gte: 'b', reverse: true, limit: 2 }))).toEqual(['grape', 'fig']);
    });
  });

  it('walks scans larger than one chunk (256 keys), with limits across chunk edges', async () => {
    await withStore(SMALL, async (store) => {
      const names = Array.from({ length: 700 }, (_, n) => `k${String(n).padStart(4, '0')}`);
      for (let start = 0; start < names.length; start += 100) {
        await store.batch(names.slice(start, start + 100).map((key) => ({ type: 'put' as const, key, value: key })));
      }
      expect(keysOf(await collect(store))).toEqual(names);
      expect(keysOf(await collect(store, { reverse: true }))).toEqual([...names].reverse());
      expect(keysOf(await collect(store, { limit: 256 }))).toEqual(names.slice(0, 256));
      expect(keysOf(await collect(store, { limit: 513 }))).toEqual(names.slice(0, 513));
      expect(keysOf(await collect(store, { gt: 'k0100', lte: 'k0600', reverse: true }))).toEqual(names.slice(101, 601).reverse());
    });
  });

  it("orders keys by UTF-8 bytes and returns Uint8Array keys with keyEncoding 'binary'", async () => {
    await withStore({ ...SMALL, keyEncoding: 'binary' }, async (store) => {
      await store.put('\u{10000}', 'astral');
      await store.put('\uE000', 'private');
      await store.put('z', 'ascii');
      await store.put(new Uint8Array([0xff, 0x00]), 'not utf8');
      await store.put(new Uint8Array([0x00]), 'nul');
      const entries = await collect(store);
      expect(entries.map(([key]) => [...(key as Uint8Array)])).toEqual([
        [0x00], [0x7a], [0xee, 0x80, 0x80], [0xf0, 0x90, 0x80, 0x80], [0xff, 0x00],
      ]);
      for (const [key] of entries) expect(key).toBeInstanceOf(Uint8Array);
      expect(entries.map(([, value]) => value)).toEqual(['nul', 'ascii', 'private', 'astral', 'not utf8']);
      // Binary bounds.
      expect((await collect(store, { gt: new Uint8Array([0xef]), lt: new Uint8Array([0xff]) })).map(([, value]) => value)).toEqual(['astral']);
      expect((await collect(store, { gte: '\uE000', reverse: true, limit: 2 })).map(([, value]) => value)).toEqual(['not utf8', 'astral']);
    });
    await withStore(SMALL, async (store) => {
      await store.put('\u{1F600}', 1);
      await store.put('\uFFFF', 2);
      expect(keysOf(await collect(store))).toEqual(['\uFFFF', '\u{1F600}']);
    });
  });

  it('refuses bad options synchronously with typed errors', async () => {
    await fruitStore(async (store) => {
      expect(() => store.scan({ gt: 'a', gte: 'a' })).toThrow(InvalidOptionError);
      expect(() => store.scan({ lt: 'a', lte: 'a' })).toThrow(InvalidOptionError);
      expect(() => store.scan({ limit: -1 })).toThrow(expect.objectContaining({ option: 'limit' }) as never);
      expect(() => store.scan({ limit: 1.5 })).toThrow(InvalidOptionError);
      expect(() => store.scan({ reverse: 'yes' as never })).toThrow(expect.objectContaining({ option: 'reverse' }) as never);
      expect(() => store.scan({ asOf: store.version + 1 })).toThrow(expect.objectContaining({ option: 'asOf' }) as never);
      expect(() => store.scan({ asOf: -1 })).toThrow(InvalidOptionError);
      expect(() => store.scan({ gt: '' })).toThrow(InvalidKeyError);
    });
  });
});

describe('history and as-of reads', () => {
  it('lists versions newest first, with deletes, honouring limit', async () => {
    await withStore(SMALL, async (store) => {
      await store.put('k', 'a');
      await store.put('other', 1);
      await store.put('k', { b: true });
      await store.delete('k');
      await store.put('k', 'c');
      expect(await store.history('k')).toEqual([
        { version: 5, value: 'c', deleted: false },
        { version: 4, deleted: true },
        { version: 3, value: { b: true }, deleted: false },
        { version: 1, value: 'a', deleted: false },
      ]);
      expect(await store.history('k', { limit: 2 })).toEqual([
        { version: 5, value: 'c', deleted: false },
        { version: 4, deleted: true },
      ]);
      expect(await store.history('k', { limit: 0 })).toEqual([]);
      expect(await store.history('missing')).toEqual([]);
      await expect(store.history('k', { limit: -2 })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'limit' });
    });
  });

  it('answers get as of every version of a long random history', async () => {
    await withStore(SMALL, async (store) => {
      const snapshots: Array<Map<string, unknown>> = [new Map()];
      let current = new Map<string, unknown>();
      let seed = 7;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let step = 0; step < 250; step++) {
        const key = `key${random(12)}`;
        current = new Map(current);
        if (random(5) === 0) {
          await store.delete(key);
          current.delete(key);
        } else {
          const value = { step, key };
          await store.put(key, value);
          current.set(key, value);
        }
        snapshots.push(current);
      }
      expect(store.version).toBe(250);
      for (let version = 0; version <= 250; version++) {
        for (let key = 0; key < 12; key++) {
          expect(await store.get(`key${key}`, { asOf: version })).toEqual(snapshots[version]!.get(`key${key}`));
        }
      }
      for (const version of [0, 1, 50, 125, 249, 250]) {
        const expected = [...snapshots[version]!].sort(([left], [right]) => (left < right ? -1 : 1));
        expect(await collect(store, { asOf: version })).toEqual(expected);
      }
      await expect(store.get('key1', { asOf: 251 })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'asOf' });
      await expect(store.get('key1', { asOf: 1.5 })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(store.get('key1', { asOf: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
    });
  });
});

describe('retention', () => {
  it('keeps maxVersionsPerKey versions; older as-of reads throw VersionNotRetainedError', async () => {
    await withStore({ ...SMALL, maxVersionsPerKey: 2 }, async (store) => {
      for (let n = 1; n <= 5; n++) await store.put('k', n); // versions 1..5
      await store.put('single', 's'); // version 6
      expect((await store.history('k')).map((entry) => entry.version)).toEqual([5, 4]);
      expect(await store.get('k', { asOf: 4 })).toBe(4);
      expect(await store.get('k', { asOf: 5 })).toBe(5);
      const error = await store.get('k', { asOf: 3 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(VersionNotRetainedError);
      expect(error).toMatchObject({ code: ErrorCode.VersionNotRetained, version: 3, oldestRetained: 4 });
      await expect(store.get('k', { asOf: 1 })).rejects.toBeInstanceOf(VersionNotRetainedError);
      // A key with one version is not affected.
      expect(await store.get('single', { asOf: 6 })).toBe('s');
      expect(await store.get('single', { asOf: 5 })).toBeUndefined();
      const stats = store.stats();
      expect(stats.reclaimedVersions).toBe(3);
      expect(stats.versions).toBe(3);
      // As-of scans across a reclaimed version fail loudly rather than guess.
      await expect(collect(store, { asOf: 2 })).rejects.toBeInstanceOf(VersionNotRetainedError);
      expect(await collect(store, { asOf: 6 })).toEqual([['k', 5], ['single', 's']]);
    });
  });

  it('a delete counts as a version and is reclaimed like one', async () => {
    await withStore({ ...SMALL, maxVersionsPerKey: 2 }, async (store) => {
      await store.put('k', 1);
      await store.delete('k');
      await store.put('k', 3);
      await store.delete('k');
      expect(await store.history('k')).toEqual([{ version: 4, deleted: true }, { version: 3, value: 3, deleted: false }]);
      expect(store.stats()).toMatchObject({ keys: 0, keysWithHistory: 1, versions: 2, reclaimedVersions: 2 });
    });
  });
});

describe('scans and concurrent writes', () => {
  const KEY_COUNT = 600; // more than two scan chunks

  async function seeded(options: StoreOptions): Promise<{ store: Store; names: string[] }> {
    const store = await openStore(temporaryDirectory(), options);
    const names = Array.from({ length: KEY_COUNT }, (_, n) => `k${String(n).padStart(4, '0')}`);
    await store.batch(names.map((key) => ({ type: 'put' as const, key, value: 'gen0' })));
    return { store, names };
  }

  for (const retention of [Infinity, 1]) {
    it(`a slowly iterated scan sees one version while writes overwrite and delete keys (maxVersionsPerKey ${retention})`, async () => {
      const { store, names } = await seeded({ ...SMALL, maxVersionsPerKey: retention });
      const seen: Array<[unknown, unknown]> = [];
      let generation = 0;
      for await (const entry of store.scan()) {
        seen.push(entry);
        if (seen.length % 50 === 1) {
          generation++;
          // Overwrite keys behind, at and ahead of the scan position; delete some; add new ones.
          const position = seen.length;
          await store.batch([
            { type: 'put', key: names[0]!, value: `gen${generation}` },
            { type: 'put', key: names[Math.min(position + 1, KEY_COUNT - 1)]!, value: `gen${generation}` },
            { type: 'put', key: names[KEY_COUNT - 1]!, value: `gen${generation}` },
            { type: 'del', key: names[Math.min(position + 300, KEY_COUNT - 2)]! },
            { type: 'put', key: `k${String(position).padStart(4, '0')}x`, value: 'inserted' },
          ]);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      expect(generation).toBeGreaterThan(10);
      expect(seen).toEqual(names.map((key) => [key, 'gen0']));
      // The pin is released when the scan ends.
      expect(store.stats().pinnedReads).toBe(0);
      expect(store.stats().oldestPinnedVersion).toBeUndefined();
      await store.close();
    });
  }

  it('a reverse scan abandoned early releases its pin', async () => {
    const { store } = await seeded({ ...SMALL, maxVersionsPerKey: 1 });
    let count = 0;
    for await (const entry of store.scan({ reverse: true })) {
      expect(entry[1]).toBe('gen0');
      expect(store.stats().pinnedReads).toBe(1);
      expect(store.stats().oldestPinnedVersion).toBe(1);
      await store.put(entry[0] as string, 'changed');
      if (++count === 300) break;
    }
    expect(store.stats().pinnedReads).toBe(0);
    expect(store.stats().oldestPinnedVersion).toBeUndefined();
    await store.close();
  });

  it('a scan reads as of the version current when scan() was called, even if writes land before its first next()', async () => {
    // BUG (once in src/store/store.ts; now StoreReads.scan and ScanIterator): the version is chosen in scan(), but
    // pins.pin(version) runs inside the async generator, i.e. only at the first next().
    // Writes in between may reclaim (maxVersionsPerKey 1) what the scan must read, and
    // the scan then throws VersionNotRetainedError instead of returning its version.
    const { store, names } = await seeded({ ...SMALL, maxVersionsPerKey: 1 });
    const iterator = store.scan({ limit: 3 });
    await store.put(names[0]!, 'changed before the first next()');
    const seen: Array<[unknown, unknown]> = [];
    try {
      for await (const entry of iterator) seen.push(entry);
    } finally {
      await store.close();
    }
    expect(seen).toEqual(names.slice(0, 3).map((key) => [key, 'gen0']));
  });

  it('stats().pinnedReads counts every running scan, also two at the same version', async () => {
    // BUG (src/store/stats.ts buildStats / src/memory/read-pins.ts size): pinnedReads is
    // documented as the number of scans pinning a version, but ReadPins.size counts
    // distinct pinned versions, so two scans at one version report 1.
    const { store } = await seeded(SMALL);
    const first = store.scan();
    const second = store.scan();
    await first.next();
    await second.next();
    const pinned = store.stats().pinnedReads;
    await first.return?.(undefined);
    await second.return?.(undefined);
    expect(store.stats().pinnedReads).toBe(0);
    await store.close();
    expect(pinned).toBe(2);
  });
});

describe('stats', () => {
  it('reports sane counters', async () => {
    await withStore({ ...SMALL, maxVersionsPerKey: 3 }, async (store) => {
      const empty = store.stats();
      expect(empty).toMatchObject({
        version: 0, commits: 0, groupCommits: 0, meanGroupSize: 0, groupSizeMax: 0, rejectedCommits: 0, fsyncs: 0,
        walBytes: 0, walSegment: 1, keys: 0, keysWithHistory: 0, versions: 0, reclaimedVersions: 0, memoryBytes: 0,
        pinnedReads: 0, oldestPinnedVersion: undefined, failed: false, closed: false,
      });
      expect(empty.recovery).toMatchObject({ records: 0, commits: 0, tornTail: undefined, repair: undefined, removedSegments: [] });
      await Promise.all(Array.from({ length: 10 }, (_, n) => store.put(`k${n}`, 'v'.repeat(100))));
      for (let n = 0; n < 5; n++) await store.put('k0', n);
      await store.delete('k1');
      const stats = store.stats();
      expect(stats.version).toBe(16);
      expect(stats.commits).toBe(16);
      expect(stats.groupCommits).toBeGreaterThanOrEqual(7);
      expect(stats.groupCommits).toBeLessThanOrEqual(16);
      expect(stats.fsyncs).toBe(stats.groupCommits);
      expect(stats.meanGroupSize).toBeCloseTo(stats.commits / stats.groupCommits);
      expect(stats.groupSizeMax).toBe(10);
      expect(stats.walBytes).toBeGreaterThan(10 * 100);
      expect(stats.keys).toBe(9);
      expect(stats.keysWithHistory).toBe(10);
      expect(stats.versions).toBe(10 + 2 + 1); // k0 keeps 3, k1 has 2, eight others 1
      expect(stats.reclaimedVersions).toBe(3);
      expect(stats.memoryBytes).toBeGreaterThan(0);
      expect(stats.failed).toBe(false);
      expect(stats.closed).toBe(false);
      expect(JSON.parse(JSON.stringify(stats))).toMatchObject({ version: 16 });
    });
  });
});

describe('reopen', () => {
  it.each([true, false])('preserves values, deletes, versions and full history, across several segments (checkpointOnClose: %s)', async (checkpointOnClose) => {
    const directory = temporaryDirectory();
    const options: StoreOptions = { segmentSizeBytes: 16 * 1024, maxValueBytes: 8 * 1024, checkpointOnClose };
    const store = await openStore(directory, options);
    for (let n = 0; n < 60; n++) {
      await store.put(`k${n % 6}`, { n, pad: 'p'.repeat(500) });
      if (n % 9 === 0) await store.delete(`k${(n + 1) % 6}`);
    }
    await store.batch([{ type: 'put', key: 'batch', value: [1, 2] }, { type: 'del', key: 'k2' }]);
    const before = {
      version: store.version,
      scan: await collect(store),
      histories: await Promise.all(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'batch'].map((key) => store.history(key))),
      asOf: await Promise.all([1, 10, 30, 50].map((version) => collect(store, { asOf: version }))),
      segment: store.stats().walSegment,
    };
    expect(before.segment).toBeGreaterThan(1);
    await store.close();
    const reopened = await openStore(directory, options);
    expect(reopened.version).toBe(before.version);
    expect(await collect(reopened)).toEqual(before.scan);
    expect(await Promise.all(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'batch'].map((key) => reopened.history(key)))).toEqual(before.histories);
    expect(await Promise.all([1, 10, 30, 50].map((version) => collect(reopened, { asOf: version })))).toEqual(before.asOf);
    // A checkpointing close leaves nothing to replay; otherwise the whole WAL replays.
    expect(reopened.stats().recovery.commits).toBe(checkpointOnClose ? 0 : before.version);
    expect(reopened.stats().commits).toBe(0);
    // Writing continues with the next version.
    expect(await reopened.put('after', 1)).toEqual({ version: before.version + 1 });
    await reopened.close();
    const third = await openStore(directory, options);
    expect(await third.get('after')).toBe(1);
    expect(third.version).toBe(before.version + 1);
    await third.close();
  });

  it.each([true, false])('with retention, reopen keeps the retained history and reclaims the same versions (checkpointOnClose: %s)', async (checkpointOnClose) => {
    const directory = temporaryDirectory();
    const options: StoreOptions = { ...SMALL, maxVersionsPerKey: 2, checkpointOnClose };
    const store = await openStore(directory, options);
    for (let n = 1; n <= 6; n++) await store.put('k', n);
    const history = await store.history('k');
    await store.close();
    const reopened = await openStore(directory, options);
    expect(await reopened.history('k')).toEqual(history);
    // Replaying the WAL trims again; after a checkpoint the run holds only what was retained.
    expect(reopened.stats().reclaimedVersions).toBe(checkpointOnClose ? 0 : 4);
    await expect(reopened.get('k', { asOf: 3 })).rejects.toBeInstanceOf(VersionNotRetainedError);
    await reopened.close();
  });
});
