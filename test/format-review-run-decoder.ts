/**
 * A decoder of run files written only from docs/FORMAT.md ("Run file"), independent of
 * src/: it checks every byte of a run against the text (footer, stripes and parity,
 * top-level index, index and filter partitions, data blocks, padding) and returns the
 * entries. Every disagreement is a problem string; the caller asserts there are none.
 */
import { brotliDecompressSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { type Problems, xxh64 } from './format-review-hash.js';

export const PAGE = 4096;
const KIND_DATA = 1, KIND_INDEX = 2, KIND_FILTER = 3, KIND_FOOTER = 4, KIND_TOP = 5;

export interface DecodedEntry { key: Buffer; version: number; kind: 'put' | 'delete'; value?: Buffer }
export interface RunDescriptorShape {
  runId: number; generation: number; level: number; fileName: string; fileBytes: number; entryCount: number;
  keyCount: number; minVersion: number; maxVersion: number; smallestKey: string; largestKey: string;
  footerChecksum: string; reservedEntryCount?: number;
}
export interface DecodedRun { format: number; compression: number; stripeDataPages: number; level: number; entries: DecodedEntry[]; filterKinds: Set<number>; partitions: number }

/** A u64 as FORMAT.md's conventions say: two u32 halves, low first, below 2^53. */
export function u64(bytes: Buffer, offset: number, problems: Problems, what: string): number {
  const low = bytes.readUInt32LE(offset), high = bytes.readUInt32LE(offset + 4);
  if (high >= 2 ** 21) problems.push(`${what}: u64 at ${offset} is not below 2^53`);
  return high * 2 ** 32 + low;
}

/** checksum = xxHash64( xxHash64(block bytes 8..end) u64 | runId u64 | offset u64 | generation u32 | kind u32 ). */
export function blockChecksum(block: Buffer, runId: number, offset: number, generation: number, kind: number): bigint {
  const address = Buffer.alloc(32);
  address.writeBigUInt64LE(xxh64(block.subarray(8)), 0);
  address.writeUInt32LE(runId % 2 ** 32, 8); address.writeUInt32LE(Math.floor(runId / 2 ** 32), 12);
  address.writeUInt32LE(offset % 2 ** 32, 16); address.writeUInt32LE(Math.floor(offset / 2 ** 32), 20);
  address.writeUInt32LE(generation, 24); address.writeUInt32LE(kind, 28);
  return xxh64(address);
}

const allZero = (bytes: Buffer) => bytes.every((byte) => byte === 0);

interface Context { logical: Buffer; runId: number; generation: number; problems: Problems; name: string }

/** A block's 16-byte header, its checksum against the parent's copy; returns the payload. */
function block(ctx: Context, offset: number, length: number, kind: number, parent: bigint, exactLength: boolean): { payload: Buffer; count: number } | undefined {
  const where = `${ctx.name} block kind ${kind} at ${offset}`;
  if (offset + length > ctx.logical.length || length < 16) { ctx.problems.push(`${where}: outside the logical area (length ${length})`); return undefined; }
  const bytes = ctx.logical.subarray(offset, offset + length);
  const computed = blockChecksum(bytes, ctx.runId, offset, ctx.generation, kind);
  if (computed !== parent) ctx.problems.push(`${where}: checksum ${computed} differs from the parent's ${parent}`);
  if (bytes.readBigUInt64LE(0) !== parent) ctx.problems.push(`${where}: header checksum copy differs from the parent's`);
  const payloadLength = bytes.readUInt32LE(8);
  const count = bytes.readUInt32LE(12);
  if (16 + payloadLength > length) { ctx.problems.push(`${where}: payload ${payloadLength} past the block`); return undefined; }
  if (exactLength && 16 + payloadLength !== length) ctx.problems.push(`${where}: packed block length ${length} is not 16 + payload ${payloadLength}`);
  if (!allZero(bytes.subarray(16 + payloadLength))) ctx.problems.push(`${where}: bytes after the payload are not zeros`);
  return { payload: bytes.subarray(16, 16 + payloadLength), count };
}

function decompress(ctx: Context, payload: Buffer, compression: number, offset: number): Buffer {
  try {
    if (compression === 0) return payload;
    if (compression === 1) return gunzipSync(payload);
    if (compression === 2) return brotliDecompressSync(payload);
    if (compression === 3) return inflateRawSync(payload);
  } catch (error) { ctx.problems.push(`${ctx.name} data block at ${offset}: does not decompress (${String(error)})`); }
  ctx.problems.push(`${ctx.name}: compression ${compression} unknown`);
  return Buffer.alloc(0);
}

function dataEntries(ctx: Context, bytes: Buffer, count: number, offset: number): DecodedEntry[] {
  const entries: DecodedEntry[] = [];
  let at = 0;
  let previous: Buffer | undefined;
  while (at < bytes.length) {
    const keyLength = bytes.readUInt16LE(at); at += 2;
    let key: Buffer;
    if (keyLength === 0) {
      if (previous === undefined) ctx.problems.push(`${ctx.name} data block at ${offset}: first entry has key length 0`);
      key = previous ?? Buffer.alloc(0);
    } else {
      if (keyLength > 1024) ctx.problems.push(`${ctx.name} data block at ${offset}: key length ${keyLength}`);
      key = Buffer.from(bytes.subarray(at, at + keyLength)); at += keyLength;
    }
    const kind = bytes.readUInt8(at); at += 1;
    const version = u64(bytes, at, ctx.problems, `${ctx.name} entry version`); at += 8;
    if (kind === 1) {
      const valueLength = bytes.readUInt32LE(at); at += 4;
      entries.push({ key, version, kind: 'put', value: Buffer.from(bytes.subarray(at, at + valueLength)) }); at += valueLength;
    } else if (kind === 2) entries.push({ key, version, kind: 'delete' });
    else { ctx.problems.push(`${ctx.name} data block at ${offset}: entry kind ${kind}`); break; }
    previous = key;
  }
  if (at !== bytes.length) ctx.problems.push(`${ctx.name} data block at ${offset}: entries end at ${at}, payload is ${bytes.length}`);
  if (entries.length !== count) ctx.problems.push(`${ctx.name} data block at ${offset}: ${entries.length} entries, header says ${count}`);
  return entries;
}

/** The filter's documented hashing: every key of the partition must be in it. */
function checkFilter(ctx: Context, payload: Buffer, keys: Buffer[], offset: number, filterKinds: Set<number>, format: number): void {
  const m = payload.readUInt32LE(0), k = payload.readUInt16LE(4), kind = payload.readUInt16LE(6);
  filterKinds.add(kind);
  const where = `${ctx.name} filter at ${offset}`;
  if (payload.length !== 8 + m / 8) ctx.problems.push(`${where}: payload ${payload.length} is not 8 + m/8 (m ${m})`);
  const n = keys.length;
  if (kind === 0) {
    if (m !== Math.max(64, Math.ceil((n * 10) / 8) * 8) || k !== 7) ctx.problems.push(`${where}: kind 0 with m ${m}, k ${k} for ${n} keys`);
    if (format >= 5) ctx.problems.push(`${where}: kind 0 in a format ${format} run`);
  } else if (kind === 1) {
    if (m !== Math.max(1, Math.ceil((n * 10) / 512)) * 512 || k !== 6) ctx.problems.push(`${where}: kind 1 with m ${m}, k ${k} for ${n} keys`);
    if (format < 5) ctx.problems.push(`${where}: kind 1 in a format ${format} run`);
  } else ctx.problems.push(`${where}: filter kind ${kind}`);
  const bits = payload.subarray(8);
  const bit = (b: number) => (bits.readUInt8(b >> 3) >> (b & 7)) & 1;
  let missing = 0;
  for (const key of keys) {
    const h = xxh64(key);
    const h1 = Number(h & 0xffffffffn), h2 = Number((h >> 32n) | 1n);
    if (kind === 0) {
      for (let i = 0; i < k; i++) if (!bit(Number((BigInt(h1) + BigInt(i) * BigInt(h2)) % BigInt(m)))) missing++;
    } else {
      const blockIndex = h1 % (m / 512);
      let x = h2;
      for (let i = 1; i <= k; i++) { x = Math.imul(x, 0x9e3779b9) >>> 0; if (!bit(blockIndex * 512 + (x >>> 23))) missing++; }
    }
  }
  if (missing > 0) ctx.problems.push(`${where}: ${missing} probes of the partition's keys find a zero bit`);
}

/** An entry's encoded size with its key written out (the block's first entry always is). */
function entryBytes(entry: DecodedEntry): number {
  return 2 + entry.key.length + 1 + 8 + (entry.kind === 'put' ? 4 + entry.value!.length : 0);
}

function keyAt(bytes: Buffer, at: number): [Buffer, number] {
  const length = bytes.readUInt16LE(at);
  return [Buffer.from(bytes.subarray(at + 2, at + 2 + length)), at + 2 + length];
}

export function decodeRun(file: Buffer, descriptor: RunDescriptorShape, problems: Problems): DecodedRun {
  const name = descriptor.fileName;
  const empty: DecodedRun = { format: 0, compression: 0, stripeDataPages: 0, level: 0, entries: [], filterKinds: new Set(), partitions: 0 };
  if (file.length !== descriptor.fileBytes) problems.push(`${name}: size ${file.length}, descriptor says ${descriptor.fileBytes}`);
  if (file.length % PAGE !== 0 || file.length < 4 * PAGE) { problems.push(`${name}: size ${file.length} not whole pages >= 4`); return empty; }
  const footerOffset = file.length - PAGE;
  const footer = file.subarray(footerOffset);
  const f = (offset: number, what: string) => u64(footer, offset, problems, `${name} footer ${what}`);
  const generation = footer.readUInt32LE(20), runId = f(24, 'run id');
  const footerSum = blockChecksum(footer, runId, footerOffset, generation, KIND_FOOTER);
  if (footer.readBigUInt64LE(0) !== footerSum) problems.push(`${name}: footer checksum is not the documented one`);
  const hex = footerSum.toString(16).padStart(16, '0');
  if (descriptor.footerChecksum !== hex) problems.push(`${name}: descriptor footerChecksum ${descriptor.footerChecksum}, footer's u64 in hex is ${hex}`);
  if (!footer.subarray(8, 16).equals(Buffer.from('LBUGRUN\0', 'latin1'))) problems.push(`${name}: footer magic`);
  const format = footer.readUInt32LE(16);
  const K = footer.readUInt32LE(36);
  const compression = footer.readUInt32LE(52);
  if (![2, 3, 4, 5, 6].includes(format)) problems.push(`${name}: run format ${format}`);
  if ((format === 5 && compression !== 0) || (format === 6 && compression === 0) || (format === 4 && compression === 0)) problems.push(`${name}: format ${format} with compression ${compression}`);
  if (generation !== descriptor.generation || runId !== descriptor.runId) problems.push(`${name}: footer generation/run id differ from the descriptor`);
  if (name !== `${String(runId).padStart(10, '0')}.run`) problems.push(`${name}: file name does not carry run id ${runId}`);
  if (footer.readUInt32LE(32) !== descriptor.level) problems.push(`${name}: footer level ${footer.readUInt32LE(32)} differs from the descriptor's ${descriptor.level}`);
  if (K < 2 || K > 64) { problems.push(`${name}: stripe data pages ${K}`); return empty; }
  const indexOffset = f(40, 'index offset'), indexLength = footer.readUInt32LE(48);
  const indexSum = footer.readBigUInt64LE(56);
  const filterOffset = f(64, 'filter offset'), filterLength = footer.readUInt32LE(72);
  if (footer.readUInt32LE(76) !== 0 || footer.readUInt32LE(124) !== 0) problems.push(`${name}: footer reserved u32 not zero`);
  if (format >= 3 && footer.readBigUInt64LE(80) !== 0n) problems.push(`${name}: format ${format} filter checksum not 0`);
  const entryCount = f(88, 'entries'), keyCount = f(96, 'keys'), minVersion = f(104, 'min'), maxVersion = f(112, 'max');
  const dataBlockCount = footer.readUInt32LE(120);
  const smallest = footer.subarray(130, 130 + footer.readUInt16LE(128)), largest = footer.subarray(1156, 1156 + footer.readUInt16LE(1154));
  if (!allZero(footer.subarray(130 + smallest.length, 1154)) || !allZero(footer.subarray(1156 + largest.length, 2180))) problems.push(`${name}: key padding not zeros`);
  if (!allZero(footer.subarray(2180))) problems.push(`${name}: footer bytes 2180.. not zeros`);
  if (entryCount !== descriptor.entryCount || keyCount !== descriptor.keyCount || minVersion !== descriptor.minVersion || maxVersion !== descriptor.maxVersion) problems.push(`${name}: footer counts/versions differ from the descriptor`);
  if (smallest.toString('latin1') !== descriptor.smallestKey || largest.toString('latin1') !== descriptor.largestKey) problems.push(`${name}: footer key range differs from the descriptor's (one char per byte)`);

  // Stripes: S * (K + 1) pages, logical page n at floor(n/K)*(K+1) + n mod K, parity = XOR.
  const stripedPages = footerOffset / PAGE;
  if (stripedPages % (K + 1) !== 0) { problems.push(`${name}: striped area ${stripedPages} pages is not S * (K + 1)`); return empty; }
  const S = stripedPages / (K + 1);
  const logical = Buffer.alloc(S * K * PAGE);
  for (let s = 0; s < S; s++) {
    const parity = Buffer.alloc(PAGE);
    for (let j = 0; j < K; j++) {
      const page = file.subarray((s * (K + 1) + j) * PAGE, (s * (K + 1) + j + 1) * PAGE);
      page.copy(logical, (s * K + j) * PAGE);
      for (let b = 0; b < PAGE; b++) parity[b]! ^= page[b]!;
    }
    if (!parity.equals(file.subarray((s * (K + 1) + K) * PAGE, (s * (K + 1) + K + 1) * PAGE))) problems.push(`${name}: stripe ${s} parity is not the XOR of its data pages`);
  }
  const ctx: Context = { logical, runId, generation, problems, name };
  const L = (filterOffset + filterLength) / PAGE;
  if (!Number.isInteger(L) || S !== Math.max(1, Math.ceil(L / K))) problems.push(`${name}: ${S} stripes for ${L} logical pages`);
  if (!allZero(logical.subarray(filterOffset + filterLength))) problems.push(`${name}: padding pages of the last stripe are not zeros`);
  if (indexLength % PAGE !== 0 || filterLength % PAGE !== 0) problems.push(`${name}: index/filter length not whole pages`);
  if (filterOffset !== indexOffset + indexLength) problems.push(`${name}: filter does not follow the index`);

  const packed = format === 4 || format === 6;
  const entries: DecodedEntry[] = [];
  const filterKinds = new Set<number>();
  let dataEnd = 0, blocks = 0, partitionCount = 0;
  const readData = (offset: number, length: number, sum: bigint, lastKey: Buffer): Buffer[] => {
    if (offset !== dataEnd) problems.push(`${name}: data block at ${offset}, the previous ended at ${dataEnd}`);
    if (!packed && length % PAGE !== 0) problems.push(`${name}: data block length ${length} not whole pages`);
    const read = block(ctx, offset, length, KIND_DATA, sum, packed);
    dataEnd = offset + length; blocks++;
    if (read === undefined) return [];
    const decoded = dataEntries(ctx, decompress(ctx, read.payload, compression, offset), read.count, offset);
    if (compression === 0 && length !== Math.ceil((16 + read.payload.length) / PAGE) * PAGE) problems.push(`${name}: data block at ${offset} is ${length} bytes for ${read.payload.length} of payload`);
    if (compression === 0 && length > PAGE && decoded.length > 0 && 16 + entryBytes(decoded[0]!) <= PAGE) problems.push(`${name}: data block at ${offset} spans ${length / PAGE} pages though its first entry fits one`);
    if (decoded.length > 0 && !decoded.at(-1)!.key.equals(lastKey)) problems.push(`${name}: data block at ${offset}: last key differs from the index's`);
    entries.push(...decoded);
    return decoded.map((entry) => entry.key);
  };
  const indexEntries = (payload: Buffer, count: number, where: string): Array<{ key: Buffer; offset: number; length: number; sum: bigint }> => {
    const list = [];
    let at = 0;
    while (at < payload.length) {
      const [key, next] = keyAt(payload, at); at = next;
      list.push({ key, offset: u64(payload, at, problems, where), length: payload.readUInt32LE(at + 8), sum: payload.readBigUInt64LE(at + 12) }); at += 20;
    }
    if (list.length !== count) problems.push(`${where}: ${list.length} entries, header says ${count}`);
    return list;
  };
  const distinct = (keys: Buffer[]) => keys.filter((key, i) => i === 0 || !key.equals(keys[i - 1]!));
  if (format === 2) {
    const index = block(ctx, indexOffset, indexLength, KIND_INDEX, indexSum, false);
    const keys: Buffer[] = [];
    for (const entry of index ? indexEntries(index.payload, index.count, `${name} index`) : []) keys.push(...readData(entry.offset, entry.length, entry.sum, entry.key));
    if (dataEnd !== indexOffset) problems.push(`${name}: index block does not follow the data blocks`);
    const filter = block(ctx, filterOffset, filterLength, KIND_FILTER, footer.readBigUInt64LE(80), false);
    if (filter) checkFilter(ctx, filter.payload, distinct(keys), filterOffset, filterKinds, format);
  } else {
    const top = block(ctx, indexOffset, indexLength, KIND_TOP, indexSum, false);
    let at = 0, partitions = 0, nextIndex = -1, firstIndexOffset = -1, nextFilter = filterOffset, keysTotal = 0;
    let previousLast: Buffer | undefined, previousPartitionLast: Buffer | undefined;
    while (top && at < top.payload.length) {
      const p = top.payload;
      const [lastKey, next] = keyAt(p, at); at = next;
      const dataOffset = u64(p, at, problems, 'top'), count = p.readUInt32LE(at + 8), keys = p.readUInt32LE(at + 12);
      const partOffset = u64(p, at + 16, problems, 'top'), partLength = p.readUInt32LE(at + 24), partSum = p.readBigUInt64LE(at + 28);
      const filtOffset = u64(p, at + 36, problems, 'top'), filtLength = p.readUInt32LE(at + 44), filtSum = p.readBigUInt64LE(at + 48);
      at += 56; partitions++;
      const where = `${name} partition ${partitions - 1}`;
      if (previousLast && Buffer.compare(previousLast, lastKey) >= 0) problems.push(`${where}: last key not increasing`);
      previousLast = lastKey;
      if (dataOffset !== dataEnd) problems.push(`${where}: data offset ${dataOffset}, data so far ends at ${dataEnd}`);
      if (nextIndex === -1) { nextIndex = partOffset; firstIndexOffset = partOffset; }
      if (partOffset !== nextIndex || filtOffset !== nextFilter) problems.push(`${where}: partitions not contiguous`);
      nextIndex = partOffset + partLength; nextFilter = filtOffset + filtLength;
      if (partLength % PAGE !== 0 || filtLength % PAGE !== 0) problems.push(`${where}: partition lengths not whole pages`);
      const part = block(ctx, partOffset, partLength, KIND_INDEX, partSum, false);
      const partKeys: Buffer[] = [];
      for (const entry of part ? indexEntries(part.payload, part.count, where) : []) partKeys.push(...readData(entry.offset, entry.length, entry.sum, entry.key));
      if (part && part.count !== count) problems.push(`${where}: ${part.count} data blocks, top-level says ${count}`);
      const unique = distinct(partKeys);
      if (unique.length !== keys) problems.push(`${where}: ${unique.length} distinct keys, top-level says ${keys}`);
      if (unique.length > 0 && !unique.at(-1)!.equals(lastKey)) problems.push(`${where}: last key differs from the top-level's`);
      if (unique.length > 0 && partitions > 1 && previousPartitionLast?.equals(unique[0]!)) problems.push(`${where}: key ${unique[0]!.toString('latin1')} spans two partitions`);
      previousPartitionLast = lastKey;
      keysTotal += keys;
      const filter = block(ctx, filtOffset, filtLength, KIND_FILTER, filtSum, false);
      if (filter) { checkFilter(ctx, filter.payload, unique, filtOffset, filterKinds, format); if (filter.count !== keys) problems.push(`${where}: filter header counts ${filter.count} keys, top-level ${keys}`); }
    }
    const firstIndex = packed ? Math.ceil(dataEnd / PAGE) * PAGE : dataEnd;
    if (partitions > 0 && firstIndexOffset !== firstIndex) problems.push(`${name}: first index partition at ${firstIndexOffset}, data ends at ${dataEnd}`);
    partitionCount = partitions;
    if (top && partitions !== top.count) problems.push(`${name}: top-level index lists ${partitions}, header says ${top.count}`);
    if (nextIndex !== indexOffset) problems.push(`${name}: index partitions end at ${nextIndex}, top-level index at ${indexOffset}`);
    if (nextFilter !== filterOffset + filterLength) problems.push(`${name}: filter partitions end at ${nextFilter}, footer says ${filterOffset + filterLength}`);
    if (keysTotal !== keyCount) problems.push(`${name}: partitions hold ${keysTotal} keys, footer ${keyCount}`);
    if (previousLast && !previousLast.equals(largest)) problems.push(`${name}: last partition key differs from the footer's largest`);
    if (packed && !allZero(logical.subarray(dataEnd, Math.ceil(dataEnd / PAGE) * PAGE))) problems.push(`${name}: bytes after the last packed data block are not zeros`);
  }
  if (blocks !== dataBlockCount) problems.push(`${name}: ${blocks} data blocks, footer says ${dataBlockCount}`);
  if (entries.length !== entryCount) problems.push(`${name}: ${entries.length} entries, footer says ${entryCount}`);
  for (let i = 1; i < entries.length; i++) {
    const order = Buffer.compare(entries[i - 1]!.key, entries[i]!.key);
    if (order > 0 || (order === 0 && entries[i - 1]!.version <= entries[i]!.version)) { problems.push(`${name}: entries out of order at ${i}`); break; }
  }
  if (entries.length > 0 && (!entries[0]!.key.equals(smallest) || !entries.at(-1)!.key.equals(largest))) problems.push(`${name}: key range differs from the entries'`);
  const versions = entries.map((entry) => entry.version);
  if (entries.length > 0 && (Math.min(...versions) !== minVersion || Math.max(...versions) !== maxVersion)) problems.push(`${name}: version range differs from the entries'`);
  const reserved = entries.filter((entry) => entry.key.toString('latin1').startsWith('\u0000ladybug/')).length;
  if (descriptor.reservedEntryCount !== undefined && descriptor.reservedEntryCount !== reserved) problems.push(`${name}: reservedEntryCount ${descriptor.reservedEntryCount}, the run holds ${reserved}`);
  return { format, compression, stripeDataPages: K, level: footer.readUInt32LE(32), entries, filterKinds, partitions: partitionCount };
}
