/**
 * One function: its webhook endpoint, its image's build, an invoke box, its requests as they
 * change (the API's event stream), its last hour in charts, its versions and aliases, its
 * settings and its deletion.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, stream } from './api.js';
import { FunctionCharts } from './charts.js';
import { ErrorBox, html, ms, pretty, Status, useLoad, when } from './ui.js';
import { Versions } from './versions.js';

const SETTINGS = [
  { name: 'description', label: 'Description', type: 'text' },
  { name: 'memory', label: 'Memory (MiB)', type: 'number' },
  { name: 'cpus', label: 'CPUs', type: 'number', step: '0.1' },
  { name: 'timeout', label: 'Timeout (s)', type: 'number' },
  { name: 'retries', label: 'Retries', type: 'number' },
  { name: 'max_concurrency', label: 'Max concurrency (0: no limit)', type: 'number' },
];

export function FunctionPage({ id, go }) {
  const fn = useLoad(() => api(`/v1/functions/${id}`).then((body) => body.function), [id]);
  const building = fn.data?.status === 'building';
  useEffect(() => {
    if (!building) return undefined;
    const timer = setInterval(fn.reload, 1000);
    return () => clearInterval(timer);
  }, [building, fn.reload]);
  if (!fn.data) return html`<${ErrorBox} error=${fn.error} />${fn.error ? null : html`<p>Loading…</p>`}`;
  const f = fn.data;
  return html`<section aria-labelledby="function-title">
    <p><a href="#/functions">← Functions</a></p>
    <h1 id="function-title">${f.name}</h1>
    <${ErrorBox} error=${fn.error} />
    <dl class="facts">
      <dt>Status</dt><dd><${Status} value=${f.status} /></dd>
      <dt>Webhook</dt><dd><code>POST ${f.endpoint}</code></dd>
      <dt>Runtime</dt><dd>${f.runtime}</dd>
      <dt>Id</dt><dd><code>${f.function_id}</code></dd>
      <dt>Created</dt><dd>${when(f.created_at)}</dd>
    </dl>
    ${building ? html`<div class="progress" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"></span> Building its image…</div>` : null}
    ${f.build_log && (building || f.status === 'error') ? html`<details open=${f.status === 'error'}><summary>Build log</summary><pre class="log">${f.build_log}</pre></details>` : null}
    <${Invoke} fn=${f} />
    <${Requests} functionId=${f.function_id} />
    <${Versions} fn=${f} />
    <${Settings} fn=${f} saved=${fn.reload} />
    <${Delete} fn=${f} deleted=${() => go('#/functions')} />
  </section>`;
}

function Invoke({ fn }) {
  const [payload, setPayload] = useState('{"key": "value"}');
  const [wait, setWait] = useState(false);
  const [result, setResult] = useState(undefined);
  const [error, setError] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const invoke = async (event) => {
    event.preventDefault();
    setError(undefined);
    setResult(undefined);
    let parsed;
    try {
      parsed = JSON.parse(payload);
    } catch (failure) {
      setError({ code: 'InvalidJson', message: `The payload is not valid JSON: ${failure.message}` });
      return;
    }
    setBusy(true);
    try {
      // The webhook, on the API's own port: same origin, same token.
      const answer = await api(`/function/${fn.function_id}?wait=${wait}`, { method: 'POST', json: { payload: parsed } });
      setResult(answer);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${invoke} aria-labelledby="invoke-title">
    <h2 id="invoke-title">Invoke</h2>
    <label>Payload (JSON) <textarea class="code" rows="4" spellcheck="false" value=${payload} onInput=${(e) => setPayload(e.currentTarget.value)}></textarea></label>
    <label class="inline"><input type="checkbox" checked=${wait} onChange=${(e) => setWait(e.currentTarget.checked)} /> Wait for the outcome (sync)</label>
    <button type="submit" disabled=${busy || fn.status === 'error'}>${busy ? 'Invoking…' : 'Invoke'}</button>
    <div aria-live="polite">
      <${ErrorBox} error=${error} />
      ${error?.requestId === undefined && error?.details?.request_id ? html`<a href=${`#/requests/${error.details.request_id}`}>Its request</a>` : null}
      ${result === undefined ? null : result?.request_id && !wait
        ? html`<p class="outcome">Queued: <a href=${`#/requests/${result.request_id}`}>request ${result.request_id}</a></p>`
        : html`<div class="outcome"><p>Response</p><pre>${pretty(result)}</pre></div>`}
    </div>
  </form>`;
}

/** The function's requests, newest first, kept current by the API's event stream. */
function Requests({ functionId }) {
  const [requests, setRequests] = useState(new Map());
  const [error, setError] = useState(undefined);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    setRequests(new Map());
    stream(`/v1/requests?function_id=${functionId}&limit=500`, (event, data) => {
      if (event === 'ready') setLive(true);
      if (event === 'request') setRequests((previous) => new Map(previous).set(data.request_id, { ...previous.get(data.request_id), ...data }));
    }, controller.signal).then(() => setLive(false), (failure) => {
      if (failure.name !== 'AbortError') setError(failure);
      setLive(false);
    });
    return () => controller.abort();
  }, [functionId]);
  const sorted = [...requests.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  return html`<section class="card" aria-labelledby="requests-title">
    <h2 id="requests-title">Requests <span class="muted">${live ? '(live)' : ''}</span></h2>
    <${ErrorBox} error=${error} />
    <${FunctionCharts} requests=${sorted} />
    <table>
      <caption class="visually-hidden">Requests of the function, newest first</caption>
      <thead><tr><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Duration</th><th scope="col">Attempts</th></tr></thead>
      <tbody aria-live="polite">
        ${sorted.slice(0, 50).map((r) => html`<tr key=${r.request_id} data-request=${r.request_id}>
          <td><a href=${`#/requests/${r.request_id}`}><code>${r.request_id.slice(0, 12)}</code></a></td>
          <td><${Status} value=${r.status} /></td><td>${when(r.created_at)}</td><td>${ms(r.duration_ms)}</td><td>${r.attempts}</td>
        </tr>`)}
      </tbody>
    </table>
    ${live && sorted.length === 0 ? html`<p>No request yet.</p>` : null}
  </section>`;
}

function Settings({ fn, saved }) {
  const [error, setError] = useState(undefined);
  const [done, setDone] = useState(false);
  const save = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const changes = {};
    for (const { name, type } of SETTINGS) {
      const raw = String(data.get(name) ?? '');
      const value = type === 'number' ? Number(raw) : raw;
      if (value !== fn[name]) changes[name] = value;
    }
    setError(undefined);
    setDone(false);
    try {
      await api(`/v1/functions/${fn.function_id}`, { method: 'PATCH', json: changes });
      setDone(true);
      saved();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="card" onSubmit=${save} aria-labelledby="settings-title">
    <h2 id="settings-title">Settings</h2>
    <${ErrorBox} error=${error} />
    <div class="grid">
      ${SETTINGS.map(({ name, label, type, step }) => html`<label key=${name}>${label} <input name=${name} type=${type} step=${step} value=${fn[name] ?? ''} /></label>`)}
    </div>
    <button type="submit">Save settings</button>
    ${done ? html`<span role="status" class="saved">Saved.</span>` : null}
  </form>`;
}

function Delete({ fn, deleted }) {
  const [error, setError] = useState(undefined);
  const remove = async () => {
    if (!window.confirm(`Delete function ${fn.name}? Its queued requests end cancelled.`)) return;
    try {
      await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' });
      deleted();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<section class="card danger" aria-labelledby="delete-title">
    <h2 id="delete-title">Delete</h2>
    <${ErrorBox} error=${error} />
    <button type="button" class="danger" onClick=${remove}>Delete function</button>
  </section>`;
}
