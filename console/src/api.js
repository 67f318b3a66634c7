/**
 * The console's one way to the platform: the public REST API on the origin it was served from.
 * A Keystone token is kept for the browser tab's session (sessionStorage) and sent as
 * X-Auth-Token; streams are read with fetch() so that the token travels in a header, never in a URL.
 */

const TOKEN_KEY = 'pratai.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
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
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined;
  const type = response.headers.get('content-type') ?? '';
  return type.includes('json') ? response.json() : response.text();
}

/**
 * Reads a Server-Sent Events stream of the API, calling onEvent(name, data) for each event, until
 * it ends or `signal` aborts. Rejects with an ApiError when the API refuses the stream.
 */
export async function stream(path, onEvent, signal) {
  const response = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (!response.ok) throw await failure(response);
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
