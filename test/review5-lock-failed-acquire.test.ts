/**
 * An acquisition of the directory lock that fails after linking its generation
 * (src/store/directory-lock.ts: the temporary name's removal or the check of the
 * generations fails) must not leave that generation standing as a live holder. In this
 * process the dropped token makes it dead, but another process judges the body by its
 * pid, which is alive (lock-liveness.ts): every other process was refused the store with
 * StoreLockedError until this one exited, though nothing held it. The generation is
 * now released on the failure path, as a released lock reads in every process.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, type FaultInjection } from '../src/fs/fault-file-system.js';
import { DirectoryLock, type LockBody } from '../src/store/directory-lock.js';
import { ErrorCode } from '../src/errors.js';
import { openOn, scanAll, STORE_DIR } from './workload.js';

const LOCK = /^LOCK\.\d{12}$/;

async function newestBody(fileSystem: FaultFileSystem): Promise<{ name: string; body: LockBody }> {
  const name = (await fileSystem.readdir(STORE_DIR)).filter((entry) => LOCK.test(entry)).sort().at(-1)!;
  const body = JSON.parse(Buffer.from(await fileSystem.readFile(`${STORE_DIR}/${name}`)).toString('utf8')) as LockBody;
  return { name, body };
}

const failures: Array<{ name: string; fault: FaultInjection }> = [
  { name: 'the temporary name cannot be removed', fault: { operation: 'unlink', error: 'EIO', path: /LOCK\.tmp-[0-9a-f]+-\d+$/ } },
  { name: 'the generations cannot be listed after linking', fault: { operation: 'readdir', error: 'EIO', path: STORE_DIR, nth: 2 } },
];

describe('an acquisition failing after its link', () => {
  for (const { name, fault } of failures) {
    it(`${name}: the linked generation is left released, not held by this live pid`, async () => {
      const fileSystem = new FaultFileSystem(1);
      await fileSystem.mkdir(STORE_DIR);
      (await DirectoryLock.acquire(fileSystem, STORE_DIR, { heartbeat: false })).abandon(); // generation 1, dead
      const injected = fileSystem.injectFault(fault);
      await expect(DirectoryLock.acquire(fileSystem, STORE_DIR, { heartbeat: false })).rejects.toMatchObject({ code: 'EIO' });
      expect(injected.triggeredCount).toBe(1);
      const { name: newest, body } = await newestBody(fileSystem);
      expect(newest).toBe('LOCK.000000000002');
      expect(body.pid).toBe(process.pid);
      expect(body.released).toBe(true);
      const next = await DirectoryLock.acquire(fileSystem, STORE_DIR, { heartbeat: false });
      expect(next.path).toBe(`${STORE_DIR}/LOCK.000000000003`);
      await next.release();
    });

    it(`${name}, during an open: IoError, the lock released, the store opens again`, async () => {
      const fileSystem = new FaultFileSystem(2);
      const store = await openOn(fileSystem);
      await store.put('k', 'v');
      await store.close();
      fileSystem.injectFault(fault);
      await expect(openOn(fileSystem)).rejects.toMatchObject({ code: ErrorCode.Io });
      expect((await newestBody(fileSystem)).body.released).toBe(true);
      const again = await openOn(fileSystem);
      expect(await scanAll(again)).toEqual(new Map([['k', 'v']]));
      await again.close();
    });
  }
});
