/**
 * A function's versions (immutable snapshots of its code and settings) and aliases (names that
 * point at a version, optionally sharing traffic with others by weight), on the function's page.
 */
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, useLoad, when } from './ui.js';

export function Versions({ fn }) {
  const base = `/v1/functions/${fn.function_id}`;
  const versions = useLoad(() => api(`${base}/versions`).then((body) => body.versions), [fn.function_id]);
  const aliases = useLoad(() => api(`${base}/aliases`).then((body) => body.aliases), [fn.function_id]);
  const [error, setError] = useState(undefined);
  const [note, setNote] = useState(undefined);
  const act = async (call, done) => {
    setError(undefined);
    setNote(undefined);
    try {
      const answer = await call();
      if (done) setNote(done(answer));
      versions.reload();
      aliases.reload();
      return true;
    } catch (failure) {
      setError(failure);
      return false;
    }
  };
  const publish = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const description = String(new FormData(form).get('description') ?? '');
    void act(() => api(`${base}/versions`, { method: 'POST', json: { description } }), (answer) =>
      answer.published ? `Published version ${answer.version.version}.` : `Nothing changed since version ${answer.version.version}: no new version.`,
    ).then((ok) => ok && form.reset());
  };
  const removeVersion = (version) => {
    if (!window.confirm(`Delete version ${version.version}?`)) return;
    void act(() => api(`${base}/versions/${version.version}`, { method: 'DELETE' }));
  };
  const createAlias = (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    void act(() => api(`${base}/aliases`, { method: 'POST', json: { name: String(data.get('alias') ?? ''), version: Number(data.get('version')) } }), (answer) => `Alias ${answer.alias.name} on version ${answer.alias.version}.`);
  };
  const moveAlias = (alias, version) => act(() => api(`${base}/aliases/${encodeURIComponent(alias.name)}`, { method: 'PATCH', json: { version: Number(version), weights: {} } }), (answer) => `Alias ${answer.alias.name} moved to version ${answer.alias.version}.`);
  const removeAlias = (alias) => {
    if (!window.confirm(`Delete alias ${alias.name}?`)) return;
    void act(() => api(`${base}/aliases/${encodeURIComponent(alias.name)}`, { method: 'DELETE' }));
  };
  const list = versions.data ?? [];
  const options = list.map((v) => html`<option key=${v.version} value=${v.version}>${v.version}</option>`);
  return html`<section class="card" aria-labelledby="versions-title">
    <h2 id="versions-title">Versions & aliases</h2>
    <${ErrorBox} error=${versions.error ?? aliases.error ?? error} />
    ${note ? html`<p role="status" class="saved">${note}</p>` : null}
    <form onSubmit=${publish} class="inline-form">
      <label>Version description <input name="description" /></label>
      <button type="submit" disabled=${fn.status !== 'ready'}>Publish version</button>
    </form>
    <table>
      <caption class="visually-hidden">Versions of the function</caption>
      <thead><tr><th scope="col">Version</th><th scope="col">Description</th><th scope="col">Endpoint</th><th scope="col">Published</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${list.map((v) => html`<tr key=${v.version} data-version=${v.version}>
        <td>${v.version}</td><td>${v.description}</td><td><code>POST ${v.endpoint}</code></td><td>${when(v.created_at)}</td>
        <td><button type="button" class="danger" onClick=${() => removeVersion(v)} aria-label=${`Delete version ${v.version}`}>Delete</button></td>
      </tr>`)}</tbody>
    </table>
    ${versions.data && list.length === 0 ? html`<p>No version yet: publish one to pin its code and settings.</p>` : null}
    <table>
      <caption class="visually-hidden">Aliases of the function</caption>
      <thead><tr><th scope="col">Alias</th><th scope="col">Version</th><th scope="col">Weights</th><th scope="col">Endpoint</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${(aliases.data ?? []).map((a) => html`<tr key=${a.name} data-alias=${a.name}>
        <td>${a.name}</td>
        <td><label class="inline"><span class="visually-hidden">Version of alias ${a.name}</span>
          <select value=${String(a.version)} onChange=${(e) => moveAlias(a, e.currentTarget.value)}>${options}</select></label></td>
        <td>${Object.entries(a.weights).map(([version, weight]) => `${version}: ${weight}`).join(', ')}</td>
        <td><code>POST ${a.endpoint}</code></td>
        <td><button type="button" class="danger" onClick=${() => removeAlias(a)} aria-label=${`Delete alias ${a.name}`}>Delete</button></td>
      </tr>`)}</tbody>
    </table>
    ${list.length > 0 ? html`<form onSubmit=${createAlias} class="inline-form">
      <label>Alias name <input name="alias" required /></label>
      <label>On version <select name="version">${options}</select></label>
      <button type="submit">Create alias</button>
    </form>` : null}
  </section>`;
}
