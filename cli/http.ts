/**
 * The CLI's HTTP transport to Pratai: the session's token on every call, JSON in and out, and
 * every failure turned into one line a user can act on — the API's own message with its status,
 * code and request id, or why the endpoint could not be reached.
 */
import { createHash } from 'node:crypto';
import { ApiError, CliError } from './errors.js';
import type { Session } from './auth.js';

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** A plain value is sent as JSON; FormData as multipart. */
  body?: unknown;
  /** The Accept header: JSON unless said. */
  accept?: string;
  /** Ends the call (a stream's wait included) when aborted. */
  signal?: AbortSignal;
}

export class HttpClient {
  private session: Promise<Session> | undefined;

  /**
   * `openSession` is called on the first call only, so commands that never reach the API (help)
   * never authenticate. `debug` receives a line per exchange, as `--debug` shows them.
   */
  constructor(
    private readonly openSession: () => Promise<Session>,
    private readonly debug: ((line: string) => void) | undefined,
  ) {}

  /** The session's endpoint, authenticating first when needed. */
  async endpoint(): Promise<string> {
    return (await this.currentSession()).endpoint;
  }

  private currentSession(): Promise<Session> {
    this.session ??= this.openSession();
    return this.session;
  }

  /** Calls `path` below the endpoint (or an absolute URL) and answers the parsed JSON body. */
  async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const response = await this.call(method, path, options);
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${response.url} answered ${response.status} with a body that is not JSON: ${oneLine(text)}`);
    }
  }

  /** Calls `path` and hands its body to `onText` as it arrives (a streamed answer), until it ends. */
  async stream(method: string, path: string, onText: (text: string) => void, options: CallOptions = {}): Promise<void> {
    const response = await this.call(method, path, { ...options, accept: options.accept ?? 'text/plain' });
    if (response.body === null) return;
    const decoder = new TextDecoder();
    for await (const chunk of response.body) onText(decoder.decode(chunk as Uint8Array, { stream: true }));
    onText(decoder.decode());
  }

  /** Calls `path` and answers the body as text. */
  async text(method: string, path: string, options: CallOptions = {}): Promise<string> {
    return (await this.call(method, path, options)).text();
  }

  private async call(method: string, path: string, options: CallOptions): Promise<Response> {
    const session = await this.currentSession();
    const url = new URL(/^https?:\/\//.test(path) ? path : `${session.endpoint}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json', 'user-agent': 'pratai-cli' };
    if (session.token !== undefined) headers['x-auth-token'] = session.token;
    let body: FormData | string | undefined;
    if (options.body instanceof FormData) body = options.body;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    // As the OpenStack clients log it: the token by its hash, never itself.
    this.debug?.(`REQ: ${method} ${url.href}${session.token === undefined ? '' : ` -H "X-Auth-Token: {SHA256}${createHash('sha256').update(session.token).digest('hex')}"`}`);
    let response: Response;
    try {
      response = await fetch(url, { method, headers, ...(body !== undefined && { body }), ...(options.signal !== undefined && { signal: options.signal }) });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new CliError(`Unable to establish connection to ${url.origin}: ${fetchFailure(error)}`, 1, { cause: error });
    }
    this.debug?.(`RESP: ${response.status} ${response.statusText} (${response.headers.get('x-openstack-request-id') ?? 'no request id'})`);
    if (response.status >= 400) throw await apiError(method, url, response, session);
    return response;
  }
}

/** The API's error body as one line: `message (HTTP 404 FunctionNotFound) (Request-ID: req-…)`. */
async function apiError(method: string, url: URL, response: Response, session: Session): Promise<CliError> {
  const text = await response.text().catch(() => '');
  let error: { code?: string; message?: string; request_id?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  const requestId = error?.request_id ?? response.headers.get('x-openstack-request-id') ?? undefined;
  if (error?.message === undefined) {
    const said = oneLine(text);
    return new ApiError(`${method} ${url.href} failed: HTTP ${response.status} ${response.statusText}${said ? `: ${said}` : ''}`, response.status, 'Unknown', requestId);
  }
  const code = error.code ?? 'Unknown';
  // A noauth CLI meeting an authenticating server: say what to set, not just "401".
  const hint = response.status === 401 && session.token === undefined ? '; set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (or OS_CLOUD) to authenticate' : '';
  return new ApiError(`${error.message}${hint} (HTTP ${response.status} ${code})${requestId ? ` (Request-ID: ${requestId})` : ''}`, response.status, code, requestId);
}

/** fetch's TypeError hides the reason (ECONNREFUSED, ENOTFOUND, a TLS failure) in its cause. */
function fetchFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string; errors?: { message?: string }[] } } | undefined)?.cause;
  const message = cause?.message || cause?.errors?.[0]?.message || (error instanceof Error ? error.message : String(error));
  return cause?.code && !message.includes(cause.code) ? `${message} (${cause.code})` : message;
}

const oneLine = (text: string): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
};
