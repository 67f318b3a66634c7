/**
 * Reading fields and query parameters: each reader says what was expected and what came.
 * Multipart and query values arrive as strings; JSON bodies may carry numbers and booleans.
 */
import { describeValue, PrataiError } from '../common/errors.js';

function invalid(name: string, expected: string, value: unknown): PrataiError {
  return new PrataiError('InvalidParameter', `Expected \`${name}\` to be ${expected}, got ${describeValue(value)}`);
}

/** A single value: repeated query parameters (`?a=1&a=2`) are refused, not silently merged. */
function single(name: string, value: unknown): unknown {
  if (Array.isArray(value)) throw invalid(name, 'given once', value);
  return value;
}

export function text(name: string, value: unknown, options: { pattern?: RegExp; hint?: string; max?: number } = {}): string {
  value = single(name, value);
  if (typeof value !== 'string') throw invalid(name, 'a string', value);
  const max = options.max ?? 255;
  if (value.length > max) throw invalid(name, `at most ${max} characters`, value);
  if (options.pattern && !options.pattern.test(value)) throw invalid(name, options.hint ?? `text matching ${options.pattern}`, value);
  return value;
}

export function integer(name: string, value: unknown, min: number, max: number, unit = ''): number {
  value = single(name, value);
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw invalid(name, `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`, value);
  return parsed;
}

export function decimal(name: string, value: unknown, min: number, max: number): number {
  value = single(name, value);
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) throw invalid(name, `a number from ${min} to ${max}`, value);
  return parsed;
}

export function boolean(name: string, value: unknown): boolean {
  value = single(name, value);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value)) return true;
  if (typeof value === 'string' && /^(false|0|no|off)$/i.test(value)) return false;
  throw invalid(name, 'true or false', value);
}

export function oneOf<const T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  value = single(name, value);
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) throw invalid(name, `one of ${choices.join(', ')}`, value);
  return value as T;
}

/** Refuses fields the route does not know, so a typo (`memroy=256`) is not silently ignored. */
export function onlyKnown(kind: string, given: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(given).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new PrataiError('InvalidParameter', `Unknown ${kind} ${unknown.map((key) => `\`${key}\``).join(', ')}; expected any of ${known.join(', ')}`);
  }
}
