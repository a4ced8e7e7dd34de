/**
 * A description of the machine a run happened on: CPU, cores, memory, OS,
 * Node, and the device and file system holding the benchmark data (read from
 * /proc/self/mountinfo and /sys on Linux; "unknown" elsewhere).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';

export interface FileSystemDescription {
  readonly mountPoint: string;
  readonly device: string;
  readonly type: string;
  readonly mountOptions: string;
  /** From /sys/dev/block/<major:minor>/queue/rotational; undefined if unknown. */
  readonly rotational?: boolean;
}

export interface MachineDescription {
  readonly cpuModel: string;
  readonly logicalCores: number;
  readonly availableParallelism: number;
  readonly memoryTotalBytes: number;
  readonly platform: string;
  readonly osRelease: string;
  readonly architecture: string;
  readonly nodeVersion: string;
  readonly v8Version: string;
  readonly libuvThreadpoolSize: string;
  readonly loadAverageAtStart: readonly number[];
  readonly benchDirectory: string;
  readonly benchFileSystem: FileSystemDescription | undefined;
  readonly repositoryFileSystem: FileSystemDescription | undefined;
  readonly gitRevision: string;
}

export function describeMachine(benchDirectory: string, repositoryRoot: string): MachineDescription {
  const processors = os.cpus();
  return {
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    logicalCores: processors.length,
    availableParallelism: os.availableParallelism(),
    memoryTotalBytes: os.totalmem(),
    platform: os.platform(),
    osRelease: os.release(),
    architecture: os.arch(),
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    libuvThreadpoolSize: process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)',
    loadAverageAtStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
    benchDirectory,
    benchFileSystem: describeFileSystem(benchDirectory),
    repositoryFileSystem: describeFileSystem(repositoryRoot),
    gitRevision: gitRevision(repositoryRoot),
  };
}

interface MountEntry {
  readonly majorMinor: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly device: string;
  readonly mountOptions: string;
}

/** The mount holding `path` (longest mount-point prefix of its real path). */
export function describeFileSystem(path: string): FileSystemDescription | undefined {
  const mounts = readMounts();
  const realPath = safeRealPath(path);
  const containing = mounts.filter((mount) => isWithin(realPath, mount.mountPoint));
  containing.sort((left, right) => right.mountPoint.length - left.mountPoint.length);
  const mount = containing[0];
  if (mount === undefined) return undefined;
  return {
    mountPoint: mount.mountPoint,
    device: mount.device,
    type: mount.type,
    mountOptions: mount.mountOptions,
    rotational: readRotational(mount.majorMinor),
  };
}

/** Parses /proc/self/mountinfo: "id parent major:minor root mountPoint options ... - type source superOptions". */
function readMounts(): MountEntry[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').flatMap(parseMountLine);
  } catch {
    return [];
  }
}

function parseMountLine(line: string): MountEntry[] {
  const [before, after] = line.split(' - ');
  if (before === undefined || after === undefined) return [];
  const fields = before.split(' ');
  const [type, device] = after.split(' ');
  const majorMinor = fields[2];
  const mountPoint = fields[4];
  if (majorMinor === undefined || mountPoint === undefined || type === undefined || device === undefined) return [];
  return [{ majorMinor, mountPoint: unescapeMountPath(mountPoint), type, device, mountOptions: fields[5] ?? '' }];
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

function isWithin(path: string, mountPoint: string): boolean {
  return mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);
}

function readRotational(majorMinor: string): boolean | undefined {
  try {
    return readFileSync(`/sys/dev/block/${majorMinor}/queue/rotational`, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

function safeRealPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** True when both paths are on the same device (st_dev). */
export function sameDevice(leftPath: string, rightPath: string): boolean {
  return statSync(leftPath).dev === statSync(rightPath).dev;
}

function gitRevision(repositoryRoot: string): string {
  try {
    const revision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'ignore'] });
    const status = execFileSync('git', ['status', '--porcelain'], { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'ignore'] });
    return `${revision.toString().trim()}${status.length > 0 ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return 'unknown (no commit yet or not a git checkout)';
  }
}
