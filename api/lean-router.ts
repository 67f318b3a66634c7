/**
 * The calls clients make most, served without Express: a coordination node's reads and writes
 * (`/v1/coordination/nodes/…`, `/v1/coordination/multi`) and a webhook's POST (`/function/…`).
 * Express's app and router cost more CPU per call than these calls' own work (measured in
 * README.md's "Speed"): each request and response gets Express's prototypes, and each call walks
 * the app's layers. A lean route does for its call what the Express chain does — the request id,
 * the identity headers removed, the access log line, the error body, and then the same handler
 * code — and nothing else.
 *
 * Lean routes are a shortcut, not a second definition: Express serves every route too, and a
 * call no lean route claims goes to it as before. A lean route claims only the plain spelling of
 * its path (exact case, no trailing slash, names that percent-decode, no fragment) with one of its
 * methods, and leaves conditional requests (`If-None-Match`, `If-Modified-Since`) to Express,
 * whose answers to them are its own (ARCHITECTURE.md, invariant 20).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import type { Logger } from '../common/log.js';
import { removeIdentityHeaders } from './auth.js';
import { answerError, beginExchange } from './http.js';

/** One call a lean route serves. */
export interface LeanCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The exchange's x-openstack-request-id. */
  readonly requestId: string;
  /** The URL's path, as sent (percent-encoded). */
  readonly path: string;
  /** What the route's pattern captured, in order, percent-decoded. */
  readonly params: readonly string[];
  /** The query string, parsed as Express parses it (`node:querystring`). */
  readonly query: ParsedUrlQuery;
}

export interface LeanRoute {
  /** The methods it serves (upper case); others go to Express, which answers them (405, say). */
  readonly methods: readonly string[];
  /** The whole path (no query); its groups are the call's `params`. */
  readonly pattern: RegExp;
  /** Answers the call, or throws what the error body then says. */
  handle(call: LeanCall): Promise<void>;
}

/** The captures of `match`, percent-decoded; undefined when one does not decode (Express then says why). */
function decodedParams(match: RegExpExecArray): string[] | undefined {
  const params: string[] = [];
  try {
    for (let i = 1; i < match.length; i += 1) params.push(decodeURIComponent(match[i] ?? ''));
  } catch {
    return undefined;
  }
  return params;
}

/** A server's request listener: the lean routes for what they claim, `fallback` (the Express app) for the rest. */
export function leanListener(routes: readonly LeanRoute[], fallback: RequestListener, log: Logger): RequestListener {
  return (req, res) => {
    const url = req.url ?? '';
    const at = url.indexOf('?');
    const path = at < 0 ? url : url.slice(0, at);
    const method = req.method ?? '';
    let route: LeanRoute | undefined;
    let params: string[] | undefined;
    // A fragment sends Express's URL parsing down another path; conditional requests get answers of its own.
    if (!url.includes('#') && req.headers['if-none-match'] === undefined && req.headers['if-modified-since'] === undefined) {
      for (const candidate of routes) {
        if (!candidate.methods.includes(method)) continue;
        const match = candidate.pattern.exec(path);
        if (match === null) continue;
        params = decodedParams(match);
        route = candidate;
        break;
      }
    }
    if (route === undefined || params === undefined) {
      fallback(req, res);
      return;
    }
    const requestId = beginExchange(req, res, log);
    removeIdentityHeaders(req.headers);
    const call: LeanCall = { req, res, requestId, path, params, query: parseQuery(at < 0 ? '' : url.slice(at + 1)) };
    route.handle(call).catch((thrown: unknown) => {
      // As Express's final handler does: an answer already begun cannot become an error body.
      if (res.headersSent) req.socket.destroy();
      else answerError(log, res, thrown);
    });
  };
}
