/**
 * Qualified names: what a job or a subscription names after a function's (or an event's) name to
 * run a version or an alias of the function rather than `latest`, as Lambda's qualified names do:
 * `hello:3` (a version number) or `hello:prod` (an alias name, which starts with a letter).
 * Function, event and alias names hold no `:`, so the first one splits. Stored as written (null:
 * `latest`); common/version-routing.ts resolves one at each firing, as a webhook call of that
 * version or alias is.
 */
import { ALIAS_NAME } from './domain.js';
import { describeValue, PrataiError } from './errors.js';

/** A qualifier: a version number, or an alias name. */
const QUALIFIER = new RegExp(`^[1-9]\\d{0,9}$|${ALIAS_NAME.pattern.source}`);

/** Splits `NAME:QUALIFIER` of `field` into the name and the qualifier checked; `NAME` and `NAME:latest` have none (null). */
export function splitQualified(field: string, raw: string): { name: string; qualifier: string | null } {
  const colon = raw.indexOf(':');
  if (colon < 0) return { name: raw, qualifier: null };
  const name = raw.slice(0, colon);
  const qualifier = raw.slice(colon + 1);
  if (qualifier === 'latest') return { name, qualifier: null };
  if (!QUALIFIER.test(qualifier)) {
    throw new PrataiError('InvalidParameter', `Expected \`${field}\` to be NAME or NAME:QUALIFIER, the qualifier a version number or an alias name (${ALIAS_NAME.hint}), got ${describeValue(raw)}`);
  }
  return { name, qualifier };
}

/** Writes a name and its qualifier back as one: `NAME`, or `NAME:QUALIFIER`. */
export const qualified = (name: string, qualifier: string | null): string => (qualifier === null ? name : `${name}:${qualifier}`);

/** Whether a stored qualifier names a version (a number), else an alias. */
export const isVersionQualifier = (qualifier: string): boolean => /^\d+$/.test(qualifier);
