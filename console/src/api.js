/**
 * The console's one way to the platform: the public REST API on the origin it was served from.
 * A Keystone token is kept for the browser tab's session (sessionStorage) and sent as
 * X-Auth-Token; streams are read with fetch() so that the token travels in a header, never in a URL.
 */

const SESSION_KEY = 'pratai.session';

/** The signed-in session: what `POST /v1/auth/tokens` answered ({token, expires_at, user, project, roles}), or undefined. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') ?? undefined;
  } catch {
    return undefined;
  }
}

export function setSession(value) {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
}

export function token() {
  return session()?.token ?? '';
}

let onSessionEnded = () => undefined;

/** Calls `listener(error)` when the API refuses the kept token (401): it expired or was revoked. */
export function whenSessionEnds(listener) {
  onSessionEnded = listener;
}

/** An error answer of the API: its stable code, status and message, as the API said them. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function headers(extra = {}) {
  const result = { Accept: 'application/json', ...extra };
  const current = token();
  if (current) result['X-Auth-Token'] = current;
  return result;
}

async function failure(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (error) return new ApiError(response.status, error.code, error.message, error.request_id);
  return new ApiError(response.status, `HTTP${response.status}`, `The API answered ${response.status} ${response.statusText}`);
}

/** The ApiError of a refused call; a 401 to a call that carried a token ends the session. */
async function refused(response, sentToken) {
  const error = await failure(response);
  if (error.status === 401 && sentToken) {
    setSession(undefined);
    onSessionEnded(error);
  }
  return error;
}

/** Calls the API; resolves with its JSON (or undefined for 204), rejects with an ApiError. */
export async function api(path, { method = 'GET', json, form, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'Unreachable', `The API could not be reached: ${error.message}`);
  }
  if (!response.ok) throw await refused(response, init.headers['X-Auth-Token']);
  if (response.status === 204) return undefined;
  const type = response.headers.get('content-type') ?? '';
  return type.includes('json') ? response.json() : response.text();
}

/**
 * Reads a Server-Sent Events stream of the API, calling onEvent(name, data) for each event, until
 * it ends or `signal` aborts. Rejects with an ApiError when the API refuses the stream.
 */
export async function stream(path, onEvent, signal) {
  const init = { headers: headers({ Accept: 'text/event-stream' }), signal };
  const response = await fetch(path, init);
  if (!response.ok) throw await refused(response, init.headers['X-Auth-Token']);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')));
      else if (name !== 'message') onEvent(name, undefined);
    }
  }
}
