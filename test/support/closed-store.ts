/**
 * A closed store on a fault file system with `count` committed keys k0..k(count-1)
 * (values v0..), half of them in a run (a checkpoint halfway), for tests of what a
 * reopen does: its syncs, its failures, a crash at each of its calls.
 */
import { FaultFileSystem } from '../../src/fs/fault-file-system.js';
import { openOn } from '../workload.js';

export async function closedStore(seed: number, count: number): Promise<{ fileSystem: FaultFileSystem; expected: Map<string, unknown> }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openOn(fileSystem);
  const expected = new Map<string, unknown>();
  for (let index = 0; index < count; index++) {
    if (index === Math.floor(count / 2)) await store.checkpoint();
    await store.put(`k${index}`, `v${index}`);
    expected.set(`k${index}`, `v${index}`);
  }
  await store.close();
  return { fileSystem, expected };
}
