// A child process for test/zlib-gate-terminate.test.ts: starts worker threads that
// compress and inflate blocks in a loop through the built block-compression module,
// and terminates each after 0-5 ms (seeded). `gated`: through the zlib gate
// (src/util/zlib-gate.ts), as the store's threads are; `ungated`: a bare terminate()
// (Node then aborts the process now and then: "close before init").
// Prints "survived <cycles>" when every thread was terminated without an abort.
import { Worker } from 'node:worker_threads';
import { xorshift32 } from './xorshift-child.mjs';

const [mode = 'gated', cyclesText = '200', seedText = '1', closeSpreadText = '5'] = process.argv.slice(2);
const dist = new URL('../../dist/src/', import.meta.url);
const gateModule = await import(new URL('util/zlib-gate.js', dist).href);

const workerSource = `
import { parentPort, workerData } from 'node:worker_threads';
const { installZlibGate } = await import(workerData.gateUrl);
const { compressPayload, decompressPayload } = await import(workerData.compressionUrl);
installZlibGate(workerData.zlibGate);
const payload = new Uint8Array(4000).map((_, index) => (index * 7) % 61);
parentPort.postMessage('looping');
for (;;) {
  try {
    const packed = compressPayload(workerData.compression, payload);
    decompressPayload(workerData.compression, packed, 'zlib-terminate-child', 0);
  } catch (error) {
    if (error?.name === 'ThreadStoppingError') break;
    throw error;
  }
}
`;

const next = xorshift32(seedText);

const cycles = Number(cyclesText);
// `pool` mode: a pool is closed 0..closeSpreadMs after its first batch. Its second
// thread boots then (it is ready some 90 ms after the pool is made, the first batch
// some 80 ms): 40 ms puts many closes inside the boot, where a thread loading its task
// module with a synchronous require() of an ES module aborted the process
// (src/run/compression-worker-entry.cts): 2 of 3 runs of 100 cycles before the fix.
const CLOSE_DELAY_MS_SPREAD = Number(closeSpreadText);
if (mode === 'pool') {
  // The cold tier's CompressionPool, closed while its threads compress batch after batch.
  const { CompressionPool } = await import(new URL('run/compression-pool.js', dist).href);
  const payload = new Uint8Array(4000).map((_, index) => (index * 7) % 61);
  for (let cycle = 0; cycle < cycles; cycle++) {
    const pool = new CompressionPool(2);
    const compression = 1 + (cycle % 3);
    let closed = false;
    const feed = async () => {
      while (!closed) await pool.compressBatch(compression, Array.from({ length: 16 }, () => payload)).catch(() => undefined);
    };
    const feeding = [feed(), feed(), feed()];
    await pool.compressBatch(compression, [payload]); // its first thread is up and compressing
    await new Promise((resolve) => setTimeout(resolve, next() * CLOSE_DELAY_MS_SPREAD));
    closed = true;
    await pool.close();
    await Promise.all(feeding);
  }
  console.log(`survived ${cycles}`);
  process.exit(process.exitCode ?? 0);
}
for (let cycle = 0; cycle < cycles; cycle++) {
  const zlibGate = gateModule.newZlibGate();
  const worker = new Worker(`import(${JSON.stringify('data:text/javascript,' + encodeURIComponent(workerSource))})`, {
    eval: true,
    // gzip, brotli, deflate in turn (RunCompression 1, 2, 3).
    workerData: { zlibGate, compression: 1 + (cycle % 3), gateUrl: new URL('util/zlib-gate.js', dist).href, compressionUrl: new URL('run/block-compression.js', dist).href },
  });
  worker.on('error', (error) => {
    console.error(`worker failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  });
  await new Promise((resolve) => worker.once('message', resolve));
  await new Promise((resolve) => setTimeout(resolve, next() * 5));
  if (mode === 'gated') {
    gateModule.registerZlibGate(worker, zlibGate);
    await gateModule.terminateSafely(worker);
  } else {
    await worker.terminate();
  }
}
console.log(`survived ${cycles}`);
