/**
 * ZooKeeper's path rules (PathUtils.validatePath), which every way in applies the same way: an
 * absolute path of `/`-separated names, none empty, `.` or `..`, without the characters
 * ZooKeeper refuses; `/` alone is the root. A sequential create names a prefix that may end in
 * `/` (the counter is then the whole name), so it is checked with a digit appended.
 */
import { PrataiError, describeValue } from '../errors.js';

/** Longest path a node may have, in characters: it is a key of the store's indexes. */
export const MAX_PATH_LENGTH = 512;

// Control characters, and ranges ZooKeeper refuses (surrogates, private use, specials).
// eslint-disable-next-line no-control-regex
const REFUSED = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

function invalid(path: unknown, why: string): PrataiError {
  return new PrataiError('BadArguments', `Expected an absolute node path (\`/app/lock\`), got ${describeValue(path)}: ${why}`);
}

/** The path, checked; `sequential` takes a prefix that a counter completes. */
export function validatePath(path: unknown, { sequential = false } = {}): string {
  if (typeof path !== 'string' || path === '') throw invalid(path, 'a path is a non-empty string');
  const checked = sequential ? `${path}1` : path;
  if (checked.length + (sequential ? 9 : 0) > MAX_PATH_LENGTH) throw invalid(path, `a path has at most ${MAX_PATH_LENGTH} characters`);
  if (!checked.startsWith('/')) throw invalid(path, 'it must start with /');
  if (checked === '/') return path;
  if (checked.endsWith('/')) throw invalid(path, 'it must not end with /');
  for (const name of checked.slice(1).split('/')) {
    if (name === '') throw invalid(path, 'it has an empty name (//)');
    if (name === '.' || name === '..') throw invalid(path, 'relative names (. and ..) are not allowed');
  }
  if (REFUSED.test(checked)) throw invalid(path, 'it holds a character ZooKeeper refuses (a control character or one of U+D800–U+F8FF, U+FFF0–U+FFFF)');
  return path;
}

/** The parent's path (`/` for a child of the root). */
export function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at <= 0 ? '/' : path.slice(0, at);
}

/** The last name of a path. */
export const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** A sequential node's path: the prefix and its parent's counter, ten digits, zero-padded (ZooKeeper's %010d). */
export const sequentialPath = (prefix: string, counter: number): string => `${prefix}${String(counter).padStart(10, '0')}`;
