/**
 * The restore step of the backup and parity model test: an earlier backup, sometimes
 * damaged first (a copied one only: a linked run shares its bytes with the store), is
 * verified and restored into a new directory. Checked:
 *
 * - verify says restorable exactly when restore succeeds; ok only with no damage at all,
 *   and then restore rebuilds nothing; restore rebuilds as many blocks as verify listed;
 * - damage of one page per stripe of a run, or of one manifest copy, is restorable, and
 *   the restored files are byte for byte the backup's as written; two pages in a stripe,
 *   a run's footer, both manifest copies or BACKUP.json are refused (CorruptionError or
 *   BackupError naming the backup's file) and nothing is written;
 * - the restored store holds exactly the model's state at the backup's version.
 *
 * The damage is healed afterwards, so every backup stays whole for later steps.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { brief, pick, type Random } from './model-review-driver.js';
import { checkRestored } from './model-backup-parity-checks.js';
import { applyDamage, contentOf, type Damage, healDamage, pickStripePages, planDamage, planPageDamage, runLayout } from './model-backup-parity-damage.js';
import { type Run, sampleKeys } from './model-backup-parity-driver.js';

export interface HeldBackup { directory: string; version: number; link: boolean }

type BackupDamageKind = 'none' | 'stripeOne' | 'stripeTwo' | 'footer' | 'manifestOne' | 'manifestBoth' | 'backupJson';
const RESTORABLE: Record<BackupDamageKind, boolean> = { none: true, stripeOne: true, stripeTwo: false, footer: false, manifestOne: true, manifestBoth: false, backupJson: false };

interface Planned { kind: BackupDamageKind; damages: Damage[]; file?: string; stripes: number[] }

async function planBackupDamage(run: Run, rng: Random, backup: HeldBackup): Promise<Planned> {
  if (backup.link || rng() < 0.35) return { kind: 'none', damages: [], stripes: [] };
  let kind = pick(rng, ['stripeOne', 'stripeOne', 'stripeTwo', 'footer', 'manifestOne', 'manifestOne', 'manifestBoth', 'backupJson'] as BackupDamageKind[]);
  const runs = (await run.fileSystem.readdir(`${backup.directory}/runs`)).filter((name) => name.endsWith('.run'));
  if (runs.length === 0 && ['stripeOne', 'stripeTwo', 'footer'].includes(kind)) kind = 'manifestOne';
  const whole = async (path: string): Promise<Damage> => {
    const content = (await contentOf(run.fileSystem, path))!;
    return planDamage(rng, path, content, 0, content.length);
  };
  if (kind === 'backupJson') return { kind, damages: [await whole(`${backup.directory}/BACKUP.json`)], stripes: [] };
  if (kind === 'manifestOne' || kind === 'manifestBoth') {
    const names = (await run.fileSystem.readdir(`${backup.directory}/manifest`)).sort();
    const chosen = kind === 'manifestBoth' ? names : [pick(rng, names)];
    return { kind, damages: await Promise.all(chosen.map((name) => whole(`${backup.directory}/manifest/${name}`))), file: `manifest/${chosen[0]}`, stripes: [] };
  }
  const file = `${backup.directory}/runs/${pick(rng, runs)}`;
  const content = (await contentOf(run.fileSystem, file))!;
  const layout = runLayout(content)!;
  const pages = kind === 'footer' ? [layout.pages - 1] : pickStripePages(rng, layout, kind === 'stripeOne' ? 1 + Math.floor(rng() * 2) : 1, kind === 'stripeOne' ? 1 : 2);
  const damages = pages.map((page) => planPageDamage(rng, file, content, layout, page));
  return { kind, damages, file, stripes: damages.map((damage) => damage.stripe!) };
}

export async function restoreStep(run: Run, rng: Random, label: string): Promise<void> {
  if (run.backups.length === 0) return;
  const backup = pick(rng, run.backups);
  const target = `/restored/r${++run.counter}`;
  const planned = await planBackupDamage(run, rng, backup);
  const originals = new Map<string, Uint8Array>();
  for (const name of await run.fileSystem.readdir(`${backup.directory}/runs`)) originals.set(name, (await contentOf(run.fileSystem, `${backup.directory}/runs/${name}`))!);
  for (const damage of planned.damages) await applyDamage(run.fileSystem, damage);
  const where = `${label}: backup ${backup.directory} (version ${backup.version}, link ${backup.link}) damage ${planned.kind} ${planned.damages.map((damage) => `${damage.path.split('/').pop()}@${damage.offset}:${damage.role ?? ''}`).join(', ')}`;
  run.log.push(`  restore ${backup.directory} -> ${target}, damage ${planned.kind}`);
  try {
    const report = await verifyBackup(backup.directory, { fileSystem: run.fileSystem });
    let restored: Awaited<ReturnType<typeof restoreBackup>> | undefined;
    let failure: unknown;
    try {
      restored = await restoreBackup(backup.directory, target, { fileSystem: run.fileSystem });
    } catch (error) {
      failure = error;
    }
    run.log.push(`  verify ok ${report.ok} restorable ${report.restorable} problems ${report.problems.length}; restore ${failure === undefined ? 'done' : String(failure).slice(0, 120)}`);
    expect(restored !== undefined, `${where}: verify said restorable ${report.restorable} (${brief(report.problems)}), restore ${String(failure)}`).toBe(report.restorable);
    if (planned.kind === 'none' && !backup.link) expect(report.ok, `${where}: verify of an undamaged backup: ${brief(report.problems)}`).toBe(true);
    if (planned.kind === 'none' && backup.link && !report.ok) {
      // A linked run shares the store's damage not yet repaired (or left when compaction removed the store's name of it), and only that.
      for (const problem of report.problems) expect(run.damagedEver.has(problem.path.split('/').pop() ?? ''), `${where}: verify of a linked backup names ${problem.path}: ${problem.reason}`).toBe(true);
    }
    if (planned.kind !== 'none') {
      expect(report.ok, `${where}: verify of a damaged backup says ok`).toBe(false);
      // Two pages of a stripe, one of them padding (zeros by rule): restore may rebuild both and then matches the certified checksum; either answer is right.
      const eitherWay = planned.kind === 'stripeTwo' && planned.damages.some((damage) => damage.role === 'padding');
      if (!eitherWay) expect(report.restorable, `${where}: verify restorable (${brief(report.problems)})`).toBe(RESTORABLE[planned.kind]);
      if (planned.file !== undefined) expect(report.problems.map((problem) => problem.path).some((path) => path.endsWith(planned.file!.split('/').pop()!)), `${where}: verify names ${planned.file}: ${brief(report.problems)}`).toBe(true);
    }
    if (restored === undefined) {
      const code = (failure as { code?: string }).code;
      expect(['LADYBUG_BACKUP', 'LADYBUG_CORRUPTION'], `${where}: restore failed with ${String(failure)}`).toContain(code);
      if (code === 'LADYBUG_CORRUPTION' && planned.file !== undefined) expect((failure as { file?: string }).file, `${where}: the CorruptionError's file`).toBe(planned.file);
      expect(await run.fileSystem.exists(target), `${where}: a refused restore wrote ${target}`).toBe(false);
      return;
    }
    expect(restored.version, `${where}: restored version`).toBe(backup.version);
    expect(restored.repaired.length, `${where}: restore rebuilt ${brief(restored.repaired)}, verify listed ${brief(report.rebuildable)}`).toBe(report.rebuildable.length);
    if (report.ok) expect([restored.repaired, restored.manifestCopiesFromTwin], `${where}: restore of an intact backup rebuilt something`).toEqual([[], []]);
    if (planned.kind === 'manifestOne') expect(restored.manifestCopiesFromTwin, `${where}: manifest copy from its twin`).toEqual([planned.file]);
    if (planned.kind === 'stripeOne') {
      expect(restored.repaired.length, `${where}: nothing rebuilt`).toBeGreaterThan(0);
      for (const repair of restored.repaired) {
        expect(repair.file, `${where}: rebuilt ${brief(repair)}`).toBe(planned.file);
        expect(planned.stripes, `${where}: rebuilt stripe ${brief(repair)}`).toContain(repair.stripe);
      }
    }
    // A linked backup's run is the store's file: with store damage pending, what it held before the restore is not what was certified.
    for (const [name, original] of backup.link && run.damagedEver.size > 0 ? [] : originals) {
      const copy = await contentOf(run.fileSystem, `${target}/runs/${name}`);
      expect(copy !== undefined && Buffer.from(copy).equals(Buffer.from(original)), `${where}: restored run ${name} differs from the backup's as written`).toBe(true);
    }
    const store = await openStore(target, { fileSystem: run.fileSystem, maxVersionsPerKey: run.config.maxVersionsPerKey, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN });
    try {
      await checkRestored(store, run.model, sampleKeys(run, rng, 0.5), backup.version, rng, where);
    } finally {
      await store.close();
    }
  } finally {
    for (const damage of planned.damages) await healDamage(run.fileSystem, damage);
  }
}
