/**
 * Damage on disk for the backup and parity model test (model-backup-parity-driver.ts):
 * where a run file's pages are (read from its footer: data, index, filter, padding,
 * parity, footer), and a damage plan of bit flips or 8-byte overwrites placed in
 * chosen pages, applied durably on the fault file system and undone from the bytes
 * saved before it (a damage parity cannot rebuild is healed after its step, so the
 * following steps see a whole store again).
 */
import { Buffer } from 'node:buffer';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import type { Random } from './model-review-driver.js';

export type PageRole = 'data' | 'index' | 'filter' | 'padding' | 'parity' | 'footer';

export interface RunLayout {
  formatVersion: number;
  stripeDataPages: number;
  stripes: number;
  /** Physical pages, the footer included. */
  pages: number;
  indexOffset: number;
  indexLength: number;
  filterOffset: number;
  filterLength: number;
}

/** The layout of a run file from its footer (docs/FORMAT.md, "Footer"); undefined if the footer does not look like one. */
export function runLayout(bytes: Uint8Array): RunLayout | undefined {
  if (bytes.length < 4 * RUN_PAGE_BYTES || bytes.length % RUN_PAGE_BYTES !== 0) return undefined;
  const footer = Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - RUN_PAGE_BYTES, RUN_PAGE_BYTES);
  if (footer.subarray(8, 16).toString('latin1') !== 'LBUGRUN\0') return undefined;
  const pages = bytes.length / RUN_PAGE_BYTES;
  const stripeDataPages = footer.readUInt32LE(36);
  return {
    formatVersion: footer.readUInt32LE(16), stripeDataPages, stripes: (pages - 1) / (stripeDataPages + 1), pages,
    indexOffset: Number(footer.readBigUInt64LE(40)), indexLength: footer.readUInt32LE(48),
    filterOffset: Number(footer.readBigUInt64LE(64)), filterLength: footer.readUInt32LE(72),
  };
}

/** What a physical page holds; 'data' below the top-level index also covers index partitions (format 3). */
export function pageRole(layout: RunLayout, physicalPage: number): PageRole {
  if (physicalPage === layout.pages - 1) return 'footer';
  const position = physicalPage % (layout.stripeDataPages + 1);
  if (position === layout.stripeDataPages) return 'parity';
  const logical = (Math.floor(physicalPage / (layout.stripeDataPages + 1)) * layout.stripeDataPages + position) * RUN_PAGE_BYTES;
  if (logical >= layout.filterOffset + layout.filterLength) return 'padding';
  if (logical >= layout.filterOffset) return 'filter';
  if (logical >= layout.indexOffset) return 'index';
  return 'data';
}

export const stripeOf = (layout: RunLayout, physicalPage: number): number => Math.floor(physicalPage / (layout.stripeDataPages + 1));

export interface Damage {
  path: string;
  /** Byte offset in the file, and the bytes written there (a bit flip is one byte). */
  offset: number;
  bytes: Uint8Array;
  saved: Uint8Array;
  /** For a run file: the physical page, its role and stripe. */
  page?: number;
  role?: PageRole;
  stripe?: number;
}

/** One damage inside [start, end) of a file: a bit flipped or 8 bytes overwritten with different ones. */
export function planDamage(rng: Random, path: string, content: Uint8Array, start: number, end: number): Damage {
  const overwrite = rng() < 0.5 && end - start >= 8;
  const offset = start + Math.floor(rng() * (end - start - (overwrite ? 7 : 0)));
  const saved = content.slice(offset, offset + (overwrite ? 8 : 1));
  const bytes = Uint8Array.from(saved, (byte) => (overwrite ? (byte + 1 + Math.floor(rng() * 255)) & 0xff : byte));
  if (!overwrite) bytes[0] = saved[0]! ^ (1 << Math.floor(rng() * 8));
  return { path, offset, bytes, saved };
}

/** A damage in physical page `page` of a run file. */
export function planPageDamage(rng: Random, path: string, content: Uint8Array, layout: RunLayout, page: number): Damage {
  const damage = planDamage(rng, path, content, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES);
  return { ...damage, page, role: pageRole(layout, page), stripe: page === layout.pages - 1 ? -1 : stripeOf(layout, page) };
}

/**
 * Pages to damage in a run: `perStripe` distinct pages (data, padding or parity) in
 * each of up to `stripes` distinct stripes.
 */
export function pickStripePages(rng: Random, layout: RunLayout, stripes: number, perStripe: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(stripes, layout.stripes)) chosen.add(Math.floor(rng() * layout.stripes));
  const pages: number[] = [];
  for (const stripe of chosen) {
    const positions = new Set<number>();
    while (positions.size < perStripe) positions.add(Math.floor(rng() * (layout.stripeDataPages + 1)));
    for (const position of positions) pages.push(stripe * (layout.stripeDataPages + 1) + position);
  }
  return pages;
}

async function writeDurably(fileSystem: FaultFileSystem, path: string, bytes: Uint8Array, position: number): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  try {
    await handle.write(bytes, position);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** The current content of a file, or undefined when there is none (a run compacted away). */
export async function contentOf(fileSystem: FaultFileSystem, path: string): Promise<Uint8Array | undefined> {
  return (await fileSystem.exists(path)) ? fileSystem.readFile(path) : undefined;
}

export async function applyDamage(fileSystem: FaultFileSystem, damage: Damage): Promise<void> {
  await writeDurably(fileSystem, damage.path, damage.bytes, damage.offset);
}

/** Puts the saved bytes back where the file still holds the damage (a repair may have done it already; a file gone is left gone). */
export async function healDamage(fileSystem: FaultFileSystem, damage: Damage): Promise<void> {
  const content = await contentOf(fileSystem, damage.path);
  if (content === undefined || content.length < damage.offset + damage.saved.length) return;
  if (Buffer.from(content.subarray(damage.offset, damage.offset + damage.bytes.length)).equals(Buffer.from(damage.bytes))) {
    await writeDurably(fileSystem, damage.path, damage.saved, damage.offset);
  }
}
