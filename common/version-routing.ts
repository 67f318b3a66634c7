/**
 * Which version a call runs, decided once, when it is accepted: the one it names, its alias's
 * target (or, by its `weights`, another version for that share of calls), or `latest`. The
 * request records it, and its job carries it: an alias moved meanwhile changes only later calls.
 *
 * A webhook names its target by its path (`/function/ID/versions/N`, `…/aliases/NAME`); a job and
 * a subscription by a qualifier (common/qualifier.ts), resolved at each firing as that call is.
 */
import type { AliasRecord, FunctionRecord, FunctionVersion, VersionRef } from './domain.js';
import { PrataiError } from './errors.js';
import { isVersionQualifier } from './qualifier.js';
import type { Store } from './store/store.js';

/** What a call targets: the function (`latest`), a version's number, or an alias's name, as given. */
export type CallTarget = { kind: 'latest' } | { kind: 'version'; version: string } | { kind: 'alias'; name: string };

export interface ResolvedCall {
  version: VersionRef;
  alias: string | null;
  /** The version's snapshot; undefined for `latest`. */
  snapshot: FunctionVersion | undefined;
}

/** A version number as a path or a field gives it: an integer from 1. */
export function versionNumber(name: string, raw: unknown): number {
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new PrataiError('InvalidParameter', `Expected \`${name}\` to be a version number (an integer from 1), got \`${String(raw)}\` (${typeof raw})`);
  }
  return value;
}

/** What a stored qualifier targets. */
export function qualifierTarget(qualifier: string | null): CallTarget {
  if (qualifier === null) return { kind: 'latest' };
  return isVersionQualifier(qualifier) ? { kind: 'version', version: qualifier } : { kind: 'alias', name: qualifier };
}

/** The version of an alias one call goes to: each weight's share of calls to its version, the rest to the alias's target. */
export function pickVersion(alias: Pick<AliasRecord, 'version' | 'weights'>, random: () => number = Math.random): number {
  const draw = random();
  let upTo = 0;
  for (const [version, share] of Object.entries(alias.weights).sort(([a], [b]) => Number(a) - Number(b))) {
    upTo += share;
    if (draw < upTo) return Number(version);
  }
  return alias.version;
}

const aliasNotFound = (fn: Pick<FunctionRecord, 'function_id'>, name: string): PrataiError => new PrataiError('AliasNotFound', `Function \`${fn.function_id}\` has no alias \`${name}\``);
const versionNotFound = (fn: Pick<FunctionRecord, 'function_id'>, version: number): PrataiError => new PrataiError('VersionNotFound', `Function \`${fn.function_id}\` has no version ${version}`);

export async function resolveCall(store: Store, fn: Pick<FunctionRecord, 'function_id'>, target: CallTarget): Promise<ResolvedCall> {
  if (target.kind === 'latest') return { version: 'latest', alias: null, snapshot: undefined };
  let alias: string | null = null;
  let version: number;
  if (target.kind === 'alias') {
    const found = await store.getAlias(fn.function_id, target.name);
    if (found === undefined) throw aliasNotFound(fn, target.name);
    alias = found.name;
    version = pickVersion(found);
  } else {
    version = versionNumber('version', target.version);
  }
  const snapshot = await store.getVersion(fn.function_id, version);
  if (snapshot === undefined) throw versionNotFound(fn, version);
  return { version, alias, snapshot };
}

/**
 * `count` calls of one target at once (a bulk call): an alias picks a version for each, as that
 * many calls would, reading the alias and each version it picked once.
 */
export async function resolveCalls(store: Store, fn: FunctionRecord, target: CallTarget, count: number): Promise<ResolvedCall[]> {
  if (target.kind !== 'alias') return new Array<ResolvedCall>(count).fill(await resolveCall(store, fn, target));
  const found = await store.getAlias(fn.function_id, target.name);
  if (found === undefined) throw aliasNotFound(fn, target.name);
  const picked = Array.from({ length: count }, () => pickVersion(found));
  const snapshots = new Map<number, FunctionVersion>();
  for (const version of new Set(picked)) {
    const snapshot = await store.getVersion(fn.function_id, version);
    if (snapshot === undefined) throw versionNotFound(fn, version);
    snapshots.set(version, snapshot);
  }
  return picked.map((version) => ({ version, alias: found.name, snapshot: snapshots.get(version) }));
}
