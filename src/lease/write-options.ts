/**
 * The lease options of put, delete and batch (docs/ARCHITECTURE.md "Leases"):
 *
 *   store.put(key, value, { lease: { name, token, owner? } })  // lease-bound key
 *   store.put(key, value, { fence: { name, token, owner? } })  // fenced write
 *   store.delete(key, { fence }) / store.batch(operations, { fence, lease })
 *
 * The result of leases.acquire ({ name, owner, token, expiresAt }) is accepted as is
 * for either option (expiresAt is ignored: the store's own clock decides).
 *
 * Invariants: options are validated here, before anything is read or queued, with
 * InvalidOptionError naming the option (unknown names refused, never ignored); a
 * reference always carries a token (binding or fencing without one would let a
 * holder that lost the lease act on its successor's).
 */
import { InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import { checkName, checkOwner, checkToken } from './lease-record.js';

/** Which acquisition of a lease a write is tied to. */
export interface LeaseReference {
  name: string;
  token: number;
  /** Checked against the holder when given. */
  owner?: string;
  /** Accepted (leases.acquire returns it) and ignored. */
  expiresAt?: number;
}

export interface WriteOptions {
  /** Bind the written keys to this lease: they are deleted by the commit that ends it. Not for delete. */
  lease?: LeaseReference;
  /** Fence the write: it commits only if this token holds the lease at commit (LeaseLostError otherwise). */
  fence?: LeaseReference;
}

export interface ResolvedLeaseReference {
  name: string;
  token: number;
  owner: string | undefined;
}

export interface ResolvedWriteOptions {
  lease: ResolvedLeaseReference | undefined;
  fence: ResolvedLeaseReference | undefined;
}

const WRITE_OPTION_NAMES = ['lease', 'fence'];
const REFERENCE_NAMES = ['name', 'token', 'owner', 'expiresAt'];

function leaseReference(option: string, value: unknown): ResolvedLeaseReference | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(option, `must be { name, token, owner? } (the lease acquire returned), got ${value === null ? 'null' : typeof value}`);
  }
  for (const name of Object.keys(value)) {
    if (!REFERENCE_NAMES.includes(name)) throw new InvalidOptionError(`${option}.${name}`, `is not a field of a lease reference (${REFERENCE_NAMES.join(', ')})`);
  }
  const given = value as { name?: unknown; token?: unknown; owner?: unknown };
  return {
    name: checkName(given.name),
    token: checkToken(given.token),
    owner: given.owner === undefined ? undefined : checkOwner(given.owner),
  };
}

/**
 * The lease options of a write, or undefined when it has none (the plain write
 * path). `operation` names the method: delete takes no `lease`.
 */
export function writeOptions(operation: 'put' | 'delete' | 'batch', options: unknown): ResolvedWriteOptions | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', `${operation} options must be an object`);
  refuseOtherObjectKind(operation, options);
  for (const name of Object.keys(options)) {
    if (!WRITE_OPTION_NAMES.includes(name)) throw new InvalidOptionError(name, `is not an option of ${operation} (lease, fence)`);
  }
  const given = options as { lease?: unknown; fence?: unknown };
  if (operation === 'delete' && given.lease !== undefined) {
    throw new InvalidOptionError('lease', 'delete takes no lease (a deleted key has nothing to bind); use fence');
  }
  const resolved = { lease: leaseReference('lease', given.lease), fence: leaseReference('fence', given.fence) };
  return resolved.lease === undefined && resolved.fence === undefined ? undefined : resolved;
}
