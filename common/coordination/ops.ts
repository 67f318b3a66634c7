/**
 * Reads coordination arguments as JSON gives them (the REST API's bodies, a function's calls):
 * node data as base64 text, versions as integers, flags as booleans. What cannot be read is
 * refused with what was expected and what came.
 */
import { describeValue, PrataiError } from '../errors.js';
import { ANY_VERSION, MAX_DATA_BYTES, type Op } from './nodes.js';
import { validatePath } from './paths.js';

type Fields = Record<string, unknown>;

const expected = (what: string, value: unknown): PrataiError => new PrataiError('InvalidParameter', `Expected ${what}, got ${describeValue(value)}`);

/** Node data from base64 text (absent: empty), at most MAX_DATA_BYTES. */
export function dataOf(value: unknown): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw expected('`data` to be base64 text', value);
  const data = Buffer.from(value, 'base64');
  if (data.length > MAX_DATA_BYTES) throw new PrataiError('InvalidParameter', `Expected \`data\` of at most ${MAX_DATA_BYTES} bytes (1 MiB), got ${data.length} bytes`);
  return data;
}

/**
 * The version a set, delete or check expects: -1 (or none) for any, else an integer that must be
 * the node's. As in ZooKeeper, one no node can have (-2, say) is not refused here: it is a
 * BadVersion when compared.
 */
export function versionOf(value: unknown): number {
  if (value === undefined || value === null) return ANY_VERSION;
  const version = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) throw expected('`version` to be an integer (-1: any version)', value);
  return version;
}

export function flagOf(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw expected(`\`${name}\` to be true or false`, value);
}

/** One op of a write: `{"op": "create" | "set" | "delete" | "check", "path": …, …}`. */
export function opOf(fields: Fields): Op {
  switch (fields.op) {
    case 'create': {
      const sequential = flagOf('sequential', fields.sequential);
      return { op: 'create', path: validatePath(fields.path, { sequential }), data: dataOf(fields.data), ephemeral: flagOf('ephemeral', fields.ephemeral), sequential };
    }
    case 'set':
      return { op: 'set', path: validatePath(fields.path), data: dataOf(fields.data), version: versionOf(fields.version) };
    case 'delete':
    case 'check':
      return { op: fields.op, path: validatePath(fields.path), version: versionOf(fields.version) };
    default:
      throw expected('`op` to be one of create, set, delete, check', fields.op);
  }
}

/**
 * The ops of a multi: an array of op objects (empty too: ZooKeeper commits an empty multi), all
 * read (and their paths checked) before any is applied, as ZooKeeper's client library does;
 * `details.index` names the one refused.
 */
export function opsOf(value: unknown): Op[] {
  if (!Array.isArray(value)) throw expected('`ops` to be an array of operations', value);
  return value.map((item, index) => {
    try {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw expected('an object', item);
      return opOf(item as Fields);
    } catch (error) {
      if (!(error instanceof PrataiError)) throw error;
      throw new PrataiError(error.code, `\`ops[${index}]\`: ${error.message}`, { details: { ...error.details, index } });
    }
  });
}
