/**
 * docs/FORMAT.md names every format version the code writes: the WAL's (the header
 * statement, the segment header table and its changelog), the run file's, the
 * manifest's, the lock file's and the backup's. Each statement and the newest version
 * of each changelog must equal the code's constant, so a version bump that forgets the
 * document fails here. (An outside review found the header still saying "Format
 * version: 1 ... no older version" a day after WAL format 2 shipped.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION } from '../src/backup/backup-manifest.js';
import {
  MANIFEST_FORMAT_VERSION,
  MANIFEST_FORMAT_VERSION_FLOOR,
  MANIFEST_FORMAT_VERSION_NO_FLOOR,
} from '../src/manifest/manifest-format.js';
import {
  RUN_FORMAT_VERSION,
  RUN_FORMAT_VERSION_FLAT,
  RUN_FORMAT_VERSION_KIND_0,
  RUN_FORMAT_VERSION_PACKED,
  RUN_FORMAT_VERSION_PACKED_KIND_0,
} from '../src/run/run-format.js';
import { LOCK_FORMAT_VERSION } from '../src/store/directory-lock.js';
import { FORMAT_VERSION, FORMAT_VERSION_UNTAGGED } from '../src/wal/wal-format.js';

const FORMAT_MD = readFileSync(join(import.meta.dirname, '..', 'docs', 'FORMAT.md'), 'utf8');

/** The version numbers in the first column of the changelog table headed `| <heading> | change |`. */
function changelogVersions(heading: string): number[] {
  const lines = FORMAT_MD.split('\n');
  const start = lines.indexOf(`| ${heading} | change |`);
  expect(start, `a changelog table headed "${heading}"`).toBeGreaterThanOrEqual(0);
  const versions: number[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1]?.trim() ?? '';
    for (const part of first.split(',')) versions.push(Number(part.trim()));
  }
  expect(versions.length).toBeGreaterThan(0);
  expect(versions.every(Number.isInteger), `${heading}: ${versions.join(' ')}`).toBe(true);
  return versions;
}

/** The one match of `pattern` in FORMAT.md, its first group as a number. */
function statedNumber(pattern: RegExp): number {
  const matches = [...FORMAT_MD.matchAll(new RegExp(pattern.source, 'g'))];
  expect(matches.length, String(pattern)).toBe(1);
  return Number(matches[0]![1]);
}

describe('docs/FORMAT.md states the format versions the code writes', () => {
  it('WAL: the header statement, the segment header table and the changelog', () => {
    expect(statedNumber(/\*\*WAL format version: (\d+)\*\*/)).toBe(FORMAT_VERSION);
    expect(statedNumber(/\| 8 \| 4 \| format version \| `(\d+)`/)).toBe(FORMAT_VERSION);
    const versions = changelogVersions('format version');
    expect(Math.max(...versions)).toBe(FORMAT_VERSION);
    expect(versions).toContain(FORMAT_VERSION_UNTAGGED);
  });

  it('run file: the stated versions, the footer table and the changelog', () => {
    const stated = /Run format version\s+\*\*(\d+)\*\* for uncompressed runs and \*\*(\d+)\*\* for compressed/.exec(FORMAT_MD);
    expect(stated).not.toBeNull();
    expect([Number(stated![1]), Number(stated![2])]).toEqual([RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED]);
    const footer = /\| 16 \| 4 \| run format version \| `(\d+)` uncompressed, `(\d+)` compressed/.exec(FORMAT_MD);
    expect(footer).not.toBeNull();
    expect([Number(footer![1]), Number(footer![2])]).toEqual([RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED]);
    const versions = changelogVersions('run format version');
    expect(Math.max(...versions)).toBe(Math.max(RUN_FORMAT_VERSION, RUN_FORMAT_VERSION_PACKED));
    for (const read of [RUN_FORMAT_VERSION_FLAT, RUN_FORMAT_VERSION_KIND_0, RUN_FORMAT_VERSION_PACKED_KIND_0]) expect(versions).toContain(read);
  });

  it('manifest: the stated versions and the changelog', () => {
    const stated = /\*\*Manifest format version: (\d+), (\d+) or (\d+)\*\*/.exec(FORMAT_MD);
    expect(stated).not.toBeNull();
    expect([Number(stated![1]), Number(stated![2]), Number(stated![3])])
      .toEqual([MANIFEST_FORMAT_VERSION_NO_FLOOR, MANIFEST_FORMAT_VERSION_FLOOR, MANIFEST_FORMAT_VERSION]);
    expect(Math.max(...changelogVersions('manifest format version'))).toBe(MANIFEST_FORMAT_VERSION);
  });

  it('lock file and backup: the stated versions and the changelogs', () => {
    expect(statedNumber(/\| `formatVersion` \| number \| lock format version, `(\d+)`/)).toBe(LOCK_FORMAT_VERSION);
    expect(Math.max(...changelogVersions('lock format version'))).toBe(LOCK_FORMAT_VERSION);
    expect(statedNumber(new RegExp(`\`format\`\\s+\\(\`"${BACKUP_FORMAT}"\`\\), \`formatVersion\` \\((\\d+)\\)`))).toBe(BACKUP_FORMAT_VERSION);
    expect(Math.max(...changelogVersions('backup format version'))).toBe(BACKUP_FORMAT_VERSION);
  });
});
