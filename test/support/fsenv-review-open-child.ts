/**
 * A child process for test/fsenv-review-special-files.test.ts, bundled with esbuild and run
 * with spawnSync and a timeout:  node fsenv-review-open-child.mjs <store>
 * Opens the store, reads k5, writes and reads back one key, closes; prints one JSON line:
 * { outcome: 'opened', value } or { outcome: 'refused', name, code, errno, message }.
 * A store whose open blocks the thread never prints (the parent's timeout ends it).
 */
import { openStore } from '../../src/index.js';

async function main(): Promise<void> {
  const directory = process.argv[2]!;
  try {
    const store = await openStore(directory);
    const value = await store.get('k5');
    await store.put('after', 1);
    await store.close();
    process.stdout.write(`${JSON.stringify({ outcome: 'opened', value })}\n`);
  } catch (error) {
    const { name, code, errno, message } = error as { name: string; code?: string; errno?: string; message: string };
    process.stdout.write(`${JSON.stringify({ outcome: 'refused', name, code, errno, message })}\n`);
  }
}

await main();
