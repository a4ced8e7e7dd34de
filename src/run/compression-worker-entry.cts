/**
 * The file piscina loads in each CompressionPool thread (src/run/compression-pool.ts):
 * CommonJS on purpose, so that a pool thread never loads an ES module with require().
 *
 * Why: piscina's worker loads its task file with require() first. Node 20.19+ can
 * require() an ES module, and does it synchronously: ModuleWrap::InstantiateSync. A
 * thread terminated inside that call (a pool closed while its second thread boots:
 * store close, the cold tier's idle end) makes Node call v8::Module::IsGraphAsync on a
 * module whose instantiation the termination cut off, which is a fatal error of the
 * whole process ("must be used on an instantiated module"): 2 of 4 child processes
 * closing 200 pools each aborted so, and a CI run of the suite died of it. Node's
 * asynchronous import() handles a termination inside instantiation (it only throws),
 * so this file, which require() loads as plain CommonJS, imports the task module with
 * import() at the thread's first task and hands every task to its default export.
 *
 * Invariants: the task module is imported once per thread; the result is whatever
 * compression-worker.js's default export returns (a piscina move()d buffer).
 */
type CompressionWorkerModule = typeof import('./compression-worker.js');

let loading: Promise<CompressionWorkerModule> | undefined;

async function compressTask(task: Parameters<CompressionWorkerModule['default']>[0]): Promise<ReturnType<CompressionWorkerModule['default']>> {
  loading ??= import('./compression-worker.js');
  const workerModule = await loading;
  return workerModule.default(task);
}

export = compressTask;
