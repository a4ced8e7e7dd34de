#!/usr/bin/env node
/**
 * Completes package-lock.json with the other platforms' optional binary packages.
 *
 * The package registry mirror this project is developed against does not carry
 * every platform's prebuilt binary at every version, so `npm install` leaves
 * those optional packages out of the lockfile, and `npm ci` then refuses the
 * lockfile as out of sync. For each optional dependency a locked package declares
 * but the lockfile lacks, this adds an entry gated by os/cpu/libc (read from the
 * package name), so npm ci skips it on every other platform, as it would anyway.
 * Run it after `npm install` changes the lockfile: `node scripts/complete-lockfile.mjs`.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const OS_NAMES = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'openharmony', 'netbsd', 'sunos', 'aix'];
const CPU_NAMES = ['arm64', 'x64', 'arm', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x'];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((part) => OS_NAMES.includes(part));
  const cpu = parts.find((part) => CPU_NAMES.includes(part));
  if (os === undefined || cpu === undefined) return undefined;
  const libc = os === 'linux' ? (parts.includes('musl') || parts.includes('musleabihf') ? 'musl' : 'glibc') : undefined;
  return { os, cpu, libc };
}

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let added = 0;
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] !== undefined) continue;
    const platform = platformOf(name);
    if (platform === undefined) throw new Error(`${name} (optional dependency of ${location || 'the root'}) is missing and is not a platform binary`);
    lock.packages[key] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      cpu: [platform.cpu],
      os: [platform.os],
      ...(platform.libc ? { libc: [platform.libc] } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([left], [right]) => (left === '' ? -1 : right === '' ? 1 : left.localeCompare(right))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform-gated optional entries`);
