/** One request: its status, times, attempts, payload, response, error with traceback, and logs (followed while it runs). */
import { useEffect, useState } from 'preact/hooks';
import { api, stream } from './api.js';
import { ErrorBox, html, ms, pretty, Status, useLoad, when } from './ui.js';

const FINAL = ['succeeded', 'failed', 'timeout', 'cancelled'];
const logLine = (record) => `${record.time} ${record.level} [${record.source}] ${record.message}`;

export function RequestPage({ id }) {
  const request = useLoad(() => api(`/v1/requests/${id}`).then((body) => body.request), [id]);
  const [followed, setFollowed] = useState([]);
  const [following, setFollowing] = useState(false);
  const running = request.data !== undefined && !FINAL.includes(request.data.status);
  useEffect(() => {
    if (!running) return undefined;
    const controller = new AbortController();
    setFollowed([]);
    setFollowing(true);
    stream(`/v1/requests/${id}/logs?follow=true`, (event, data) => {
      if (event === 'attempt') setFollowed([]);
      if (event === 'log') setFollowed((previous) => [...previous, data]);
      if (event === 'end') request.reload();
    }, controller.signal).catch(() => undefined).finally(() => setFollowing(false));
    return () => controller.abort();
  }, [id, running]);
  if (!request.data) return html`<${ErrorBox} error=${request.error} />${request.error ? null : html`<p>Loading…</p>`}`;
  const r = request.data;
  const logs = running ? followed : r.logs;
  return html`<section aria-labelledby="request-title">
    <p><a href=${`#/functions/${r.function_id}`}>← Its function</a></p>
    <h1 id="request-title">Request <code>${r.request_id}</code></h1>
    <${ErrorBox} error=${request.error} />
    <dl class="facts">
      <dt>Status</dt><dd><${Status} value=${r.status} />${r.dead_letter ? ' (dead-lettered)' : ''}</dd>
      <dt>Created</dt><dd>${when(r.created_at)}</dd>
      <dt>Started</dt><dd>${when(r.started_at)}</dd>
      <dt>Finished</dt><dd>${when(r.finished_at)}</dd>
      <dt>Duration</dt><dd>${ms(r.duration_ms)}</dd>
      <dt>Attempts</dt><dd>${r.attempts}</dd>
    </dl>
    <h2>Payload</h2><pre>${pretty(r.payload)}</pre>
    ${r.status === 'succeeded' ? html`<h2>Response</h2><pre class="response">${pretty(r.response)}</pre>` : null}
    ${r.error ? html`<section class="card danger" aria-labelledby="error-title">
      <h2 id="error-title">Error</h2>
      <p><strong>${r.error.type}</strong>: ${r.error.message}</p>
      ${r.error.traceback ? html`<pre class="traceback">${r.error.traceback}</pre>` : null}
    </section>` : null}
    <h2>Logs ${following ? html`<span class="muted">(following)</span>` : null}</h2>
    <pre class="log" aria-live="polite">${logs.length === 0 ? '(no log records)' : logs.map(logLine).join('\n')}</pre>
  </section>`;
}
