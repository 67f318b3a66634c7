/** The plain lists: runtimes, secrets (names only) and runners (admins, who may drain one). */
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, when } from './ui.js';
import { useLoad } from './ui.js';

export function RuntimesPage() {
  const runtimes = useLoad(() => api('/v1/runtimes'), []);
  return html`<section aria-labelledby="runtimes-title">
    <h1 id="runtimes-title">Runtimes</h1>
    <${ErrorBox} error=${runtimes.error} />
    <table>
      <thead><tr><th scope="col">Name</th><th scope="col">Image</th><th scope="col">Status</th><th scope="col">Description</th></tr></thead>
      <tbody>${(runtimes.data?.runtimes ?? []).map((rt) => html`<tr key=${rt.name}><td>${rt.name}</td><td><code>${rt.image}</code></td><td>${rt.status}</td><td>${rt.description}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

export function SecretsPage() {
  const secrets = useLoad(() => api('/v1/secrets'), []);
  return html`<section aria-labelledby="secrets-title">
    <h1 id="secrets-title">Secrets</h1>
    <p class="muted">Names only: a secret's value is never shown back.</p>
    <${ErrorBox} error=${secrets.error} />
    <table>
      <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Updated</th><th scope="col">Used by</th></tr></thead>
      <tbody>${(secrets.data?.secrets ?? []).map((s) => html`<tr key=${s.name}><td>${s.name}</td><td>${s.version}</td><td>${when(s.updated_at)}</td><td>${(s.functions ?? []).length}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

export function RunnersPage() {
  const runners = useLoad(() => api('/v1/runners'), []);
  const [error, setError] = useState(undefined);
  const drain = async (runner) => {
    if (!window.confirm(`Drain runner ${runner.id}? It takes no new jobs and finishes what it holds.`)) return;
    try {
      await api(`/v1/runners/${encodeURIComponent(runner.id)}/drain`, { method: 'POST' });
      runners.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<section aria-labelledby="runners-title">
    <h1 id="runners-title">Runners</h1>
    <${ErrorBox} error=${runners.error ?? error} />
    <table>
      <thead><tr><th scope="col">Runner</th><th scope="col">Host</th><th scope="col">State</th><th scope="col">Last heartbeat</th><th scope="col">Running / concurrency</th><th scope="col">Warm</th><th scope="col">Prewarmed</th><th scope="col">Images</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${(runners.data?.runners ?? []).map((r) => html`<tr key=${r.id}>
        <td>${r.id}</td><td>${r.host}</td><td>${r.state}</td><td>${when(r.heartbeat_at)}</td>
        <td>${r.requests_running} / ${r.concurrency}</td><td>${r.warm_containers}</td><td>${r.prewarmed_containers}</td>
        <td>${r.images.map((image) => html`<code>${image}</code> `)}</td>
        <td>${r.state === 'active' ? html`<button type="button" onClick=${() => drain(r)} aria-label=${`Drain runner ${r.id}`}>Drain</button>` : null}</td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}
