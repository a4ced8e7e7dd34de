/**
 * `ladybug verify <backup>`'s title line says what restore would do with the damage it
 * found. A backup whose only damage is a manifest copy (restore writes it from its
 * intact twin, no parity involved) was titled 'DAMAGED, RESTORABLE: restore rebuilds 0
 * damaged blocks from parity ... (the parity of those stripes is used up)': the count
 * took only parity rebuilds as what makes a backup restorable, so the line named no
 * repair and a spent parity that was not spent. Now it names the manifest copies restore
 * writes from their twin, and the parity only when blocks are rebuilt from it; a run
 * rebuilt from parity keeps its words (backup-cli checks them through the command). The
 * exit status (3: damaged, restorable) was right and is unchanged (it follows
 * `restorable`, main.ts).
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, verifyBackup } from '../src/index.js';
import { backupVerifyTitle } from '../src/cli/report-titles.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function backupOfStore(): Promise<string> {
  const store = await openStore(temporaryDirectory());
  for (let index = 0; index < 200; index++) await store.put(`k${index}`, 'v'.repeat(100));
  const backup = join(temporaryDirectory(), 'backup');
  await store.backup(backup, { link: false });
  await store.close();
  return backup;
}

function flip(path: string, offset: number): void {
  const bytes = Buffer.from(readFileSync(path));
  bytes[offset]! ^= 0x01;
  writeFileSync(path, bytes);
}

describe('ladybug verify of a backup: the title line', () => {
  it('a damaged manifest copy only: restorable from its twin, no parity named', async () => {
    const backup = await backupOfStore();
    const copy = readdirSync(join(backup, 'manifest')).sort()[0]!;
    flip(join(backup, 'manifest', copy), 20);
    const report = await verifyBackup(backup);
    expect(report).toMatchObject({ ok: false, restorable: true, rebuildable: [] });
    const title = backupVerifyTitle(report);
    expect(title).toBe('verify backup: DAMAGED, RESTORABLE: restore writes 1 damaged manifest copy from its intact twin and restores the backup exactly; take a new backup');
    expect(title).not.toContain('parity');
  });

  it('a damaged run and a damaged manifest copy: both named', async () => {
    const backup = await backupOfStore();
    const run = readdirSync(join(backup, 'runs'))[0]!;
    flip(join(backup, 'runs', run), 10);
    const copy = readdirSync(join(backup, 'manifest')).sort()[1]!;
    flip(join(backup, 'manifest', copy), 20);
    const report = await verifyBackup(backup);
    expect(report).toMatchObject({ ok: false, restorable: true });
    expect(report.rebuildable).toHaveLength(1);
    expect(backupVerifyTitle(report)).toBe('verify backup: DAMAGED, RESTORABLE: restore rebuilds 1 damaged blocks from parity, writes 1 damaged manifest copy from its intact twin and restores the backup exactly; '
      + 'take a new backup (the parity of those stripes is used up)');
  });

  it('a damaged run only: the words backup-cli checks, unchanged', async () => {
    const backup = await backupOfStore();
    flip(join(backup, 'runs', readdirSync(join(backup, 'runs'))[0]!), 10);
    const report = await verifyBackup(backup);
    expect(backupVerifyTitle(report)).toBe('verify backup: DAMAGED, RESTORABLE: restore rebuilds 1 damaged blocks from parity and restores the backup exactly; '
      + 'take a new backup (the parity of those stripes is used up)');
  });
});
