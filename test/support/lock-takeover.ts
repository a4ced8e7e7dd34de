/**
 * Takeovers of a live holder in one process (the takeover-* tests): the holder's newest
 * lock file is rewritten as another host's (another host name, a token no handle here
 * holds), so a second opener judges it by its heartbeat, not by this process's pid,
 * which is alive (src/store/lock-liveness.ts).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_STALE_AFTER_MS } from '../../src/limits.js';

/** The holder's lock file as another host's, its heartbeatAt as written unless `heartbeatAt` is given. */
export function judgeByHeartbeat(directory: string, heartbeatAt?: Date): void {
  const names = readdirSync(directory).filter((name) => /^LOCK\.\d{12}$/.test(name)).sort();
  const path = join(directory, names[names.length - 1]!);
  const body = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  body.host = 'another-host.invalid';
  body.token = 'feedfacefeedface';
  if (heartbeatAt !== undefined) body.heartbeatAt = heartbeatAt.toISOString();
  writeFileSync(path, JSON.stringify(body));
}

/** Rewrites the holder's lock file as another host's that missed its heartbeats: the next opener takes it over. */
export function makeLockStale(directory: string): void {
  judgeByHeartbeat(directory, new Date(Date.now() - 2 * LOCK_STALE_AFTER_MS));
}
