/**
 * docs/ARCHITECTURE.md's "Locks and the lock order" sums up the lock table in one
 * paragraph: which rows are mutexes, which are single tasks, which synchronous sections,
 * which reserved, each as `name` (rank). LOCK_ORDER.md is held to src/lock/lock-table.ts
 * by lock-order.test.ts; this holds the summary to it too, so a row that becomes
 * implemented, changes its protection or joins the table is not left described as it was.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_TABLE, type LockTableEntry } from '../src/lock/lock-table.js';

const root = join(import.meta.dirname, '..');

function summary(): string {
  const text = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
  const start = text.indexOf('## Locks and the lock order\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end).replace(/\s+/g, ' ');
}

/** The `name` (rank) pairs in `text`, as "name rank". */
function locksNamed(text: string): string[] {
  return [...text.matchAll(/`([a-zA-Z.]+)` \((\d+)[,)]/g)].map((match) => `${match[1]} ${match[2]}`).sort();
}

function rows(filter: (entry: LockTableEntry) => boolean): string[] {
  return LOCK_TABLE.filter(filter).map((entry) => `${entry.name} ${entry.rank}`).sort();
}

/** The part of the summary from `label` to the end of its sentence. */
function sentence(text: string, label: string): string {
  const start = text.indexOf(label);
  if (start < 0) return '';
  const end = text.indexOf('. ', start);
  return text.slice(start, end < 0 ? undefined : end);
}

describe("ARCHITECTURE's lock summary is the lock table's", () => {
  const text = summary();

  it('names every lock with its rank, and no other', () => {
    expect(locksNamed(text)).toEqual(rows(() => true));
  });

  it('groups the rows by how they are protected', () => {
    expect(locksNamed(sentence(text, 'Mutexes:'))).toEqual(rows((entry) => !entry.reserved && entry.protection === 'mutex'));
    expect(locksNamed(sentence(text, 'Single tasks'))).toEqual(rows((entry) => !entry.reserved && entry.protection === 'single task'));
    expect(locksNamed(sentence(text, 'Synchronous sections'))).toEqual(rows((entry) => !entry.reserved && entry.protection === 'synchronous'));
    expect(locksNamed(sentence(text, 'Reserved:'))).toEqual(rows((entry) => entry.reserved));
  });
});
