/**
 * Damage to a running store's files for the backup and parity model test, and the scrub
 * that must account for it:
 *
 * - 'damage': one page (data, index, filter, padding or parity) in each of 1-3 stripes
 *   of 1-2 live runs. Parity rebuilds it: every read stays exact, and the next scrub
 *   leaves each such file byte for byte as written, names no file not damaged, finds
 *   nothing unrecoverable, and a second scrub finds nothing at all.
 * - 'damageTwo': two pages of one stripe. Reads give the exact value or a CorruptionError
 *   naming the file; a scrub may repair what the damaged pages' roles allow, but every
 *   page it leaves different from the original is one of the damaged pages, and it calls
 *   the file unrecoverable whenever one is left. Then the damage is healed.
 * - 'damageFooter': the footer page; a scrub rebuilds it from the open reader's copy,
 *   or (reopened first) the run cannot be opened: reads exact or naming the file. Healed.
 * - 'damageManifest': one copy of the newest manifest generation; a scrub, reopen or both
 *   follow, and nothing is lost. Healed if still there.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { brief, pick, type Random } from './model-review-driver.js';
import { checkCurrent, namesDamagedFile } from './model-backup-parity-checks.js';
import { verifyBackup } from '../src/index.js';
import { applyDamage, contentOf, type Damage, healDamage, pageRole, pickStripePages, planDamage, planPageDamage, runLayout, type RunLayout, stripeOf } from './model-backup-parity-damage.js';
import { type Run, sampleKeys, STORE } from './model-backup-parity-driver.js';

export interface StoreDamage {
  file: string;
  original: Uint8Array;
  layout: RunLayout;
  damages: Damage[];
}

async function liveRuns(run: Run): Promise<string[]> {
  const names = await run.fileSystem.readdir(`${STORE}/runs`).catch(() => [] as string[]);
  return names.filter((name) => /^\d{10}\.run$/.test(name)).sort().map((name) => `${STORE}/runs/${name}`);
}

async function snapshotRun(run: Run, file: string): Promise<{ original: Uint8Array; layout: RunLayout } | undefined> {
  const original = await contentOf(run.fileSystem, file);
  const layout = original === undefined ? undefined : runLayout(original);
  return original === undefined || layout === undefined ? undefined : { original, layout };
}

/** One page per stripe, in up to three stripes; sometimes aimed at an index or filter page. */
function repairablePages(rng: Random, layout: RunLayout): number[] {
  const byStripe = new Map<number, number>();
  if (rng() < 0.4) {
    const aimed = Array.from({ length: layout.pages - 1 }, (_, page) => page).filter((page) => ['index', 'filter'].includes(pageRole(layout, page)));
    if (aimed.length > 0) {
      const page = pick(rng, aimed);
      byStripe.set(stripeOf(layout, page), page);
    }
  }
  for (const page of pickStripePages(rng, layout, 1 + Math.floor(rng() * 3), 1)) if (!byStripe.has(stripeOf(layout, page))) byStripe.set(stripeOf(layout, page), page);
  return [...byStripe.values()];
}

/** The pages of `file` that differ from `original`. */
function changedPages(current: Uint8Array, original: Uint8Array): number[] {
  const changed: number[] = [];
  for (let page = 0; page * RUN_PAGE_BYTES < original.length; page++) {
    const range = [page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES] as const;
    if (!Buffer.from(current.subarray(...range)).equals(Buffer.from(original.subarray(...range)))) changed.push(page);
  }
  return changed;
}

/** A scrub, checked against the damage pending (all of it repairable), then a second scrub that must find nothing. */
export async function scrubAndCheck(run: Run, label: string, beside?: () => Promise<unknown>): Promise<void> {
  const [report] = await Promise.all([run.store.scrub(), beside?.()]);
  const pending = new Map(run.pending.map((damage) => [damage.file, damage]));
  run.log.push(`  scrub: repaired ${brief(report.repaired.map((found) => `${found.kind}@${found.file}:${found.stripe}`))} unrecoverable ${report.unrecoverable.length}`);
  expect(report.unrecoverable, `${label}: scrub unrecoverable with only repairable damage: ${JSON.stringify(report.unrecoverable.map(({ keys, ...rest }) => rest))}`).toEqual([]);
  for (const found of report.repaired) {
    const damage = pending.get(found.file);
    expect(damage, `${label}: scrub repaired ${found.kind} in ${found.file}, not damaged: ${brief(found)}`).toBeDefined();
    if (found.stripe >= 0) expect(damage!.damages.map((each) => each.stripe), `${label}: scrub repaired stripe ${found.stripe} of ${found.file}: ${brief(found)}`).toContain(found.stripe);
  }
  for (const damage of run.pending) {
    const current = await contentOf(run.fileSystem, damage.file);
    if (current === undefined) continue;
    const changed = changedPages(current, damage.original);
    expect(changed, `${label}: ${damage.file} after the scrub differs from what was written (damaged pages ${brief(damage.damages.map((each) => `${each.page}:${each.role}`))})`).toEqual([]);
  }
  run.pending = [];
  const second = await run.store.scrub();
  expect([second.repaired, second.unrecoverable], `${label}: a second scrub found more`).toEqual([[], []]);
}

async function damageRuns(run: Run, rng: Random, label: string): Promise<void> {
  const files = await liveRuns(run);
  for (const file of files.filter(() => rng() < 0.5).slice(0, 2).concat(files.length > 0 ? [pick(rng, files)] : []).slice(0, 2)) {
    if (run.pending.some((damage) => damage.file === file)) continue;
    const taken = await snapshotRun(run, file);
    if (taken === undefined) continue;
    const damages = repairablePages(rng, taken.layout).map((page) => planPageDamage(rng, file, taken.original, taken.layout, page));
    for (const damage of damages) await applyDamage(run.fileSystem, damage);
    run.damagedEver.add(file.split('/').pop()!);
    run.log.push(`  damaged ${file} pages ${brief(damages.map((damage) => `${damage.page}:${damage.role}`))}`);
    run.pending.push({ file, ...taken, damages });
  }
  await checkCurrent(run.store, run.model, sampleKeys(run, rng, 0.6), new Set(), `${label}: reads with repairable damage`);
  if (rng() < 0.5) await scrubAndCheck(run, label);
}

async function damageBeyondParity(run: Run, rng: Random, footer: boolean, label: string): Promise<void> {
  const files = await liveRuns(run);
  if (files.length === 0) return;
  const file = pick(rng, files);
  const taken = await snapshotRun(run, file);
  if (taken === undefined) return;
  const pages = footer ? [taken.layout.pages - 1] : pickStripePages(rng, taken.layout, 1, 2);
  const damages = pages.map((page) => planPageDamage(rng, file, taken.original, taken.layout, page));
  for (const damage of damages) await applyDamage(run.fileSystem, damage);
  run.damagedEver.add(file.split('/').pop()!);
  run.log.push(`  damaged ${file} (format ${taken.layout.formatVersion}) beyond parity, pages ${brief(damages.map((damage) => `${damage.page}:${damage.role}@${damage.offset}`))}`);
  const reopened = footer && rng() < 0.4;
  if (reopened) {
    await run.store.close();
    run.store = await run.open();
  }
  const damaged = new Set([file]);
  const keys = sampleKeys(run, rng, 0.6);
  await checkCurrent(run.store, run.model, keys, damaged, `${label}: reads beyond parity`);
  const report = await run.store.scrub();
  run.log.push(`  scrub: repaired ${brief(report.repaired.map((found) => `${found.kind}:${found.stripe}`))} unrecoverable ${brief(report.unrecoverable.map((found) => `${found.kind}:${found.stripe}`))}`);
  for (const found of [...report.repaired, ...report.unrecoverable]) expect(found.file, `${label}: scrub names another file: ${brief(found)}`).toBe(file);
  const current = await contentOf(run.fileSystem, file);
  if (current !== undefined) {
    const changed = changedPages(current, taken.original);
    for (const page of changed) expect(pages, `${label}: scrub left page ${page} of ${file} different from what was written`).toContain(page);
    if (changed.length > 0) expect(report.unrecoverable.length, `${label}: ${file} still damaged (pages ${changed}) and the scrub called nothing unrecoverable`).toBeGreaterThan(0);
    // A run opened before the damage has its footer rebuilt from its decoded copy; one never opened cannot be: then unrecoverable, as the footer.
    if (footer) for (const found of [...report.repaired, ...report.unrecoverable]) expect(found.kind, `${label}: footer damage reported as ${brief(found)}`).toBe('footer');
  }
  await checkCurrent(run.store, run.model, keys, damaged, `${label}: reads after the scrub`);
  if (rng() < 0.4) await backupBeyondParity(run, file, label);
  // The whole file as written, whatever the scrub left of the damage.
  if (current !== undefined && (await run.fileSystem.exists(file))) await writeWhole(run, file, taken.original);
  if (reopened) {
    await run.store.close();
    run.store = await run.open();
  }
}

/**
 * A backup while a run holds damage parity may not rebuild: it checks every block, so it
 * either holds only what it certified (restore gives the model's state) or fails with a
 * CorruptionError naming the run and leaves no backup restore accepts. Copied, so the heal
 * of the store's file does not change it.
 */
async function backupBeyondParity(run: Run, file: string, label: string): Promise<void> {
  const directory = `/backups/b${++run.counter}`;
  try {
    const result = await run.store.backup(directory, { link: false });
    run.backups.push({ directory, version: result.version, link: false });
    run.log.push(`  backup beside damage: ${directory} version ${result.version}`);
  } catch (error) {
    run.log.push(`  backup beside damage refused: ${String(error).slice(0, 100)}`);
    expect(namesDamagedFile(error, new Set([file])), `${label}: backup beside damage failed: ${String(error)}`).toBe(true);
    const report = await verifyBackup(directory, { fileSystem: run.fileSystem });
    expect(report.restorable, `${label}: a refused backup is restorable`).toBe(false);
  }
}

async function writeWhole(run: Run, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await run.fileSystem.open(file, 'readWrite');
  try {
    await handle.write(bytes, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function damageManifest(run: Run, rng: Random, label: string): Promise<void> {
  const directory = `${STORE}/manifest`;
  const names = (await run.fileSystem.readdir(directory)).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort();
  if (names.length === 0) return;
  const newest = names[names.length - 1]!.slice(0, -2);
  const path = `${directory}/${newest}.${rng() < 0.5 ? 'a' : 'b'}`;
  const content = await contentOf(run.fileSystem, path);
  if (content === undefined || content.length === 0) return;
  const damage = planDamage(rng, path, content, 0, content.length);
  await applyDamage(run.fileSystem, damage);
  run.log.push(`  damaged ${path} at ${damage.offset} of ${content.length}`);
  const choice = Math.floor(rng() * 3);
  if (choice !== 1) {
    const report = await run.store.scrub();
    run.log.push(`  scrub: repaired ${brief(report.repaired.map((found) => `${found.kind}`))} unrecoverable ${report.unrecoverable.length}`);
    expect(report.unrecoverable, `${label}: scrub with one manifest copy damaged`).toEqual([]);
  }
  if (choice !== 0) {
    await run.store.close();
    run.store = await run.open();
  }
  await checkCurrent(run.store, run.model, sampleKeys(run, rng, 0.6), new Set(), `${label}: reads after manifest damage`);
  await healDamage(run.fileSystem, damage);
}

export async function damageStore(run: Run, rng: Random, kind: 'damage' | 'damageTwo' | 'damageFooter' | 'damageManifest', label: string): Promise<void> {
  if (run.pending.length > 0 && kind !== 'damage') await scrubAndCheck(run, `${label} (pending first)`);
  switch (kind) {
    case 'damage': return damageRuns(run, rng, label);
    case 'damageTwo': return damageBeyondParity(run, rng, false, label);
    case 'damageFooter': return damageBeyondParity(run, rng, true, label);
    case 'damageManifest': return damageManifest(run, rng, label);
  }
}
