/** Small shared pieces: the html tag, loading data, showing errors and times. */
import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

export { html };

/** Loads `load()` now and on reload(); `data` stays while a reload runs. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const run = useCallback(() => {
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => setState({ data, error: undefined, loading: false }),
      (error) => setState((previous) => ({ data: previous.data, error, loading: false })),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/** An API error as the API said it: its code, message and the request id that finds it in the logs. */
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.code ?? 'Error'}</strong>: ${error.message}
    ${error.requestId ? html`<div class="muted">request id ${error.requestId}</div>` : null}
  </div>`;
}

export function Status({ value }) {
  return html`<span class="status status-${value}">${value}</span>`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
export const ms = (value) => (value === null || value === undefined ? '—' : `${value} ms`);
export const pretty = (value) => (value === undefined ? '' : JSON.stringify(value, null, 2));
