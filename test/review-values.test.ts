/**
 * Issue 13, the value, key and read-option defects (1 put side, 10, 13, read options):
 * - values nested deeper than VALUE_NESTING_DEPTH_MAX are refused at put, batch and
 *   transaction writes, before encoding, by an iterative check;
 * - own "__proto__" keys and lone surrogates are refused anywhere in a value (inside
 *   Sets, Map keys, object keys, a top-level string);
 * - with keyEncoding 'utf8', a key that is not valid UTF-8 is refused by the read
 *   that would return it lossily (KeyEncodingError), not returned as U+FFFD;
 * - `ladybug dump` has a JSON form for every value the store accepts;
 * - read options are checked by name: a typo or an inapplicable asOf is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { prepareValue, readStored, storedFromEncoded } from '../src/codec/values.js';
import { dumpLine, jsonForm } from '../src/cli/output.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import {
  ErrorCode, InvalidOptionError, InvalidValueError, KeyEncodingError, openStore, ValueTooLargeError,
  type Store, type StoreOptions,
} from '../src/index.js';
import { VALUE_NESTING_DEPTH_MAX } from '../src/limits.js';

const MAX_BYTES = 1 << 20;
const open: Store[] = [];

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

async function memoryStore(options: Partial<StoreOptions> = {}): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(13), ...options });
  open.push(store);
  return store;
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectInvalidValue(value: unknown, message: RegExp): void {
  const error = thrownBy(() => prepareValue(value, MAX_BYTES));
  expect(error).toBeInstanceOf(InvalidValueError);
  expect((error as InvalidValueError).code).toBe(ErrorCode.InvalidValue);
  expect((error as InvalidValueError).message).toMatch(message);
}

type Wrap = (inner: unknown) => unknown;
const wrappers: Record<string, Wrap> = {
  array: (inner) => [inner],
  object: (inner) => ({ inner }),
  map: (inner) => new Map([['inner', inner]]),
  set: (inner) => new Set([inner]),
  'error cause': (inner) => new Error('wrapper', { cause: inner }),
};

/** `depth` containers of one kind around `leaf` (a flat container is depth 1). */
function nested(wrap: Wrap, depth: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let level = 0; level < depth; level++) value = wrap(value);
  return value;
}

const TOO_DEEP = /nested deeper than 512 levels/;
const LONE_SURROGATE = /lone surrogate/;
const PROTO_KEY = /"__proto__" key/;

describe('nesting depth (defect 1, put side)', () => {
  it('the limit is 512, far below where msgpackr overflows the default stack', () => {
    expect(VALUE_NESTING_DEPTH_MAX).toBe(512);
  });

  for (const [kind, wrap] of Object.entries(wrappers)) {
    it(`${kind}: exactly the limit is accepted and reads back; one level more is refused`, () => {
      const atLimit = prepareValue(nested(wrap, VALUE_NESTING_DEPTH_MAX), MAX_BYTES);
      expect(() => readStored(storedFromEncoded(atLimit.encoded))).not.toThrow();
      // Before the fix 513 nested arrays, objects and Maps encoded fine on the main thread.
      expectInvalidValue(nested(wrap, VALUE_NESTING_DEPTH_MAX + 1), TOO_DEEP);
    });
  }

  it('the check is iterative: a million levels are refused with InvalidValueError, not a stack overflow', () => {
    const error = thrownBy(() => prepareValue(nested(wrappers.array!, 1_000_000), MAX_BYTES));
    expect(error).toBeInstanceOf(InvalidValueError);
    expect((error as Error).message).toMatch(TOO_DEEP);
    // Refused by the shape check, not by msgpackr's recursion running out of stack.
    expect((error as Error).cause).toBeUndefined();
  });

  it('mixed containers count together', () => {
    const kinds = Object.values(wrappers);
    let value: unknown = 'leaf';
    for (let level = 0; level <= VALUE_NESTING_DEPTH_MAX; level++) value = kinds[level % kinds.length]!(value);
    expectInvalidValue(value, TOO_DEEP);
  });

  it('shared references that would encode enormous are refused after maxBytes elements, not walked forever', () => {
    let value: unknown[] = [1];
    for (let level = 0; level < 40; level++) value = [value, value];
    const error = thrownBy(() => prepareValue(value, 4096));
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect((error as ValueTooLargeError).maxBytes).toBe(4096);
  });

  it('put, batch and transaction writes refuse a too-deep value and store nothing', async () => {
    const store = await memoryStore();
    const deep = nested(wrappers.object!, VALUE_NESTING_DEPTH_MAX + 1);
    await expect(store.put('k', deep)).rejects.toThrow(InvalidValueError);
    await expect(store.batch([{ type: 'put', key: 'k', value: deep }])).rejects.toThrow(InvalidValueError);
    await expect(store.transaction((tx) => tx.put('k', deep))).rejects.toThrow(InvalidValueError);
    expect(store.version).toBe(0);
    expect(await store.get('k')).toBeUndefined();
  });
});

describe('__proto__ keys and lone surrogates anywhere in a value (defect 10)', () => {
  const protoObject = () => JSON.parse('{"__proto__": 1}') as unknown;

  it('an own "__proto__" key is refused inside a Set, a Map key, an Error cause', () => {
    // Before the fix the guard never looked inside a Set: the value read back renamed.
    expectInvalidValue(new Set([protoObject()]), PROTO_KEY);
    expectInvalidValue({ list: [new Set(['a', protoObject()])] }, PROTO_KEY);
    expectInvalidValue(new Map([['key', protoObject()]]), PROTO_KEY);
    expectInvalidValue(new Error('e', { cause: protoObject() }), PROTO_KEY);
  });

  it('a "__proto__" key at the bottom of a deep value is refused, whatever the containers', () => {
    // Before the fix a Set hid it at any depth (and the guard stopped at depth 1,000).
    for (const wrap of Object.values(wrappers)) expectInvalidValue(nested(wrap, VALUE_NESTING_DEPTH_MAX - 1, protoObject()), PROTO_KEY);
  });

  it('a "__proto__" string value and an inherited __proto__ are fine', () => {
    const value = { name: '__proto__', list: ['__proto__'], set: new Set(['__proto__']) };
    expect(readStored(prepareValue(value, MAX_BYTES).stored)).toEqual(value);
  });

  it('a lone surrogate is refused in a top-level string, nested strings, object keys, Map keys, Set members', () => {
    // Before the fix all of these were accepted, and read back with U+FFFD after a reopen.
    expectInvalidValue('a\uD800b', LONE_SURROGATE);
    expectInvalidValue('\uDC00', LONE_SURROGATE);
    expectInvalidValue({ text: 'a\uD800b' }, LONE_SURROGATE);
    expectInvalidValue({ ['key\uDFFF']: 1 }, LONE_SURROGATE);
    expectInvalidValue(['ok', ['x\uD83D']], LONE_SURROGATE);
    expectInvalidValue(new Map([['\uD800', 1]]), LONE_SURROGATE);
    expectInvalidValue(new Map([['key', '\uD800']]), LONE_SURROGATE);
    expectInvalidValue(new Set(['\uDBFF']), LONE_SURROGATE);
    expectInvalidValue(new Error('bad \uD800 message'), LONE_SURROGATE);
  });

  it('well-formed surrogate pairs are accepted and read back unchanged, also after recovery', () => {
    const value = { '\u{1F600}': 'x\u{10FFFF}y', list: ['\u{1F41E}'], set: new Set(['\u{1F600}']) };
    const prepared = prepareValue(value, MAX_BYTES);
    expect(readStored(prepared.stored)).toEqual(value);
    expect(readStored(storedFromEncoded(prepared.encoded))).toEqual(value);
    expect(prepareValue('\u{1F600}', MAX_BYTES).stored).toBe('\u{1F600}');
  });

  it('the store refuses such values at put, in a batch and in a transaction', async () => {
    const store = await memoryStore();
    await expect(store.put('k', 'a\uD800b')).rejects.toMatchObject({ code: ErrorCode.InvalidValue });
    await expect(store.batch([{ type: 'put', key: 'k', value: new Set([protoObject()]) }])).rejects.toMatchObject({ code: ErrorCode.InvalidValue });
    await expect(store.transaction((tx) => tx.put('k', { ['\uDC00']: 1 }))).rejects.toMatchObject({ code: ErrorCode.InvalidValue });
    expect(store.version).toBe(0);
  });
});

describe('keys that are not UTF-8 with keyEncoding utf8 (defect 13)', () => {
  const notUtf8 = [new Uint8Array([0xff]), new Uint8Array([0xfe])];

  async function expectKeyEncodingError(iterator: AsyncIterableIterator<unknown>, keyBytes: number[]): Promise<void> {
    let thrown: unknown;
    try {
      for await (const entry of iterator) void entry;
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeyEncodingError);
    expect((thrown as KeyEncodingError).code).toBe('LADYBUG_KEY_NOT_UTF8');
    expect([...(thrown as KeyEncodingError).keyBytes]).toEqual(keyBytes);
    expect((thrown as Error).message).toContain("keyEncoding: 'binary'");
  }

  it('a scan refuses to return [0xff] as "\\ufffd" (before the fix [0xff] and [0xfe] both scanned as "\\ufffd")', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    for (const key of notUtf8) await store.put(key, [...key]);
    const seen: unknown[] = [];
    let thrown: unknown;
    try {
      for await (const [key] of store.scan()) seen.push(key);
    } catch (error) {
      thrown = error;
    }
    expect(seen).toEqual(['a']);
    expect(thrown).toBeInstanceOf(KeyEncodingError);
    expect([...(thrown as KeyEncodingError).keyBytes]).toEqual([0xfe]);
    // The failed scan let go of its pin.
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('snapshot and transaction scans refuse it too', async () => {
    const store = await memoryStore();
    await store.put(notUtf8[0]!, 1);
    const snapshot = await store.snapshot();
    await expectKeyEncodingError(snapshot.scan(), [0xff]);
    await snapshot.release();
    await store.transaction(async (tx) => expectKeyEncodingError(tx.scan(), [0xff]));
  });

  it('valid UTF-8 binary keys scan as their string, and keyEncoding binary returns every key exactly', async () => {
    const store = await memoryStore();
    await store.put(Buffer.from('\u00e9t\u00e9', 'utf8'), 'summer');
    const utf8Keys: unknown[] = [];
    for await (const [key] of store.scan()) utf8Keys.push(key);
    expect(utf8Keys).toEqual(['\u00e9t\u00e9']);
    await store.close();
    open.splice(0);

    const fileSystem = new FaultFileSystem(13);
    const binary = await openStore('/db', { fileSystem, keyEncoding: 'binary' });
    open.push(binary);
    for (const key of notUtf8) await binary.put(key, key[0]);
    const keys: Uint8Array[] = [];
    for await (const [key] of binary.scan()) keys.push(key as Uint8Array);
    expect(keys.map((key) => [...key])).toEqual([[0xfe], [0xff]]);
    for (const key of keys) expect(await binary.get(key)).toBe(key[0]);
  });
});

describe('ladybug dump: a JSON form for every value (defect 13)', () => {
  it('every kind of value the store accepts dumps, and its form says exactly what it was', () => {
    const cases: Array<[unknown, unknown]> = [
      [123n, { $bigint: '123' }],
      [-(2n ** 64n), { $bigint: '-18446744073709551616' }],
      [new Uint8Array([1, 0xab]), { $bytes: '01ab' }],
      [new Date('2026-11-30T12:00:00.000Z'), { $date: '2026-11-30T12:00:00.000Z' }],
      [new Date(Number.NaN), { $date: null }],
      [new Map<unknown, unknown>([['a', 1n], [2, 'b']]), { $map: [['a', { $bigint: '1' }], [2, 'b']] }],
      [new Set([1, 'x']), { $set: [1, 'x'] }],
      [[1, undefined, 3], [1, { $undefined: true }, 3]],
      [-0, { $number: '-0' }],
      [Number.NaN, { $number: 'NaN' }],
      [[Infinity, -Infinity], [{ $number: 'Infinity' }, { $number: '-Infinity' }]],
      [new Float32Array([1.5]), { $typedArray: { type: 'Float32Array', values: [1.5] } }],
      [new BigInt64Array([5n]), { $typedArray: { type: 'BigInt64Array', values: [{ $bigint: '5' }] } }],
      [new Uint8Array([7]).buffer, { $arrayBuffer: '07' }],
      [/a+/gi, { $regexp: { source: 'a+', flags: 'gi' } }],
      [new Error('boom'), { $error: { name: 'Error', message: 'boom' } }],
      [{ $bigint: '1' }, { $object: { $bigint: '1' } }],
      [{ plain: 'text', n: 1, ok: true, none: null }, { plain: 'text', n: 1, ok: true, none: null }],
    ];
    for (const [value, form] of cases) {
      expect(jsonForm(value)).toEqual(form);
      expect(JSON.parse(dumpLine('key', value, true))).toEqual({ key: 'key', value: form });
      expect(dumpLine('key', value, false)).toBe(`key\t${JSON.stringify(form)}\n`);
      // What dump really sees is what a read returns (a Map reads back as an object, -0 as 0):
      // that dumps too, as the form of what was read.
      const read = readStored(prepareValue(value, MAX_BYTES).stored);
      expect(JSON.parse(dumpLine('key', read, true))).toEqual({ key: 'key', value: jsonForm(read) });
    }
  });

  it('a BigInt nested in an object dumps (before the fix: "Do not know how to serialize a BigInt")', () => {
    const line = dumpLine('k', { balance: 10n, history: [new Map([['at', new Date(0)]])] }, true);
    expect(JSON.parse(line)).toEqual({
      key: 'k',
      value: { balance: { $bigint: '10' }, history: [{ $map: [['at', { $date: '1970-01-01T00:00:00.000Z' }]] }] },
    });
  });

  it('a key that is not UTF-8 dumps as its bytes; a UTF-8 one as its string', () => {
    expect(JSON.parse(dumpLine(new Uint8Array([0xff]), 1, true))).toEqual({ key: { $bytes: 'ff' }, value: 1 });
    expect(JSON.parse(dumpLine(Buffer.from('\u00e9', 'utf8'), 1, true))).toEqual({ key: '\u00e9', value: 1 });
    expect(dumpLine(new Uint8Array([0xfe]), 'v', false)).toBe('{"$bytes":"fe"}\t"v"\n');
  });
});

describe('read options are checked by name', () => {
  function expectInvalidOption(action: () => unknown, option: string): void {
    const error = thrownBy(action);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
    expect((error as InvalidOptionError).option).toBe(option);
  }

  async function expectRejectedOption(action: () => Promise<unknown>, option: string): Promise<void> {
    const error = await action().then(() => undefined, (rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
  }

  it('a typo is refused by store get, scan and history (before the fix { asof: 1 } read the newest version)', async () => {
    const store = await memoryStore();
    await store.put('k', 'old');
    await store.put('k', 'new');
    await expectRejectedOption(() => store.get('k', { asof: 1 } as never), 'asof');
    expectInvalidOption(() => store.scan({ asof: 1 } as never), 'asof');
    expectInvalidOption(() => store.scan({ limt: 1 } as never), 'limt');
    await expectRejectedOption(() => store.history('k', { asOf: 1 } as never), 'asOf');
    // The names that apply still work.
    expect(await store.get('k', { asOf: 1 })).toBe('old');
    const entries: unknown[] = [];
    for await (const entry of store.scan({ asOf: 1, gte: 'k', limit: 1, reverse: false })) entries.push(entry);
    expect(entries).toEqual([['k', 'old']]);
    expect(await store.history('k', { limit: 1 })).toEqual([{ version: 2, value: 'new', deleted: false }]);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('asOf is refused by a snapshot\'s get, scan and history (before the fix scan silently ignored it)', async () => {
    const store = await memoryStore();
    await store.put('k', 'old');
    await store.put('k', 'new');
    const snapshot = await store.snapshot();
    expectInvalidOption(() => snapshot.scan({ asOf: 1 } as never), 'asOf');
    await expectRejectedOption(() => snapshot.get('k', { asOf: 1 } as never), 'asOf');
    await expectRejectedOption(() => snapshot.history('k', { asOf: 1 } as never), 'asOf');
    const error = thrownBy(() => snapshot.scan({ asOf: 1 } as never)) as Error;
    expect(error.message).toContain('a snapshot reads as of its own version');
    expect(await snapshot.history('k', { limit: 5 })).toHaveLength(2);
    await snapshot.release();
  });

  it('asOf and typos are refused by a transaction\'s get and scan', async () => {
    const store = await memoryStore();
    await store.put('k', 'old');
    await store.transaction(async (tx) => {
      expectInvalidOption(() => tx.scan({ asOf: 0 } as never), 'asOf');
      expectInvalidOption(() => tx.scan({ reversed: true } as never), 'reversed');
      await expectRejectedOption(() => tx.get('k', { asOf: 0 } as never), 'asOf');
      expect(await tx.get('k')).toBe('old');
    });
  });

  it('options that are not objects are refused as before', async () => {
    const store = await memoryStore();
    expectInvalidOption(() => store.scan(5 as never), 'options');
    await expectRejectedOption(() => store.get('k', null as never), 'options');
  });
});
