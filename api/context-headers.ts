/**
 * Which headers of a webhook call reach the function (`context.headers`) and are kept with its
 * request: those `[api] context_headers` names, never a credential. What a caller authenticates
 * with must not reach code that another user (the function's owner) wrote, nor the store.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Never passed, whatever `[api] context_headers` says. */
const NEVER = new Set(['x-auth-token', 'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-subject-token', 'x-service-token']);
/** A longer value is left out: headers are kept with every request. */
export const MAX_CONTEXT_HEADER_CHARS = 4096;

/** The names of `[api] context_headers` that may be passed, lower-cased. */
export function passableHeaderNames(configured: readonly string[]): string[] {
  return [...new Set(configured.map((name) => name.toLowerCase()))].filter((name) => !NEVER.has(name));
}

/** The call's headers among `names`, repeated ones joined with `, ` as HTTP reads them. */
export function contextHeaders(headers: IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const name of names) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    if (value !== undefined && value.length <= MAX_CONTEXT_HEADER_CHARS) passed[name] = value;
  }
  return passed;
}
