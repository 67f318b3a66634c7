/** The functions of the project: a list to search, and a function made from a zip or in the editor. */
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, Status, useLoad, when } from './ui.js';
import { functionZip } from './zip.js';

const MODULE_TEMPLATE = `import logging
logger = logging.getLogger('pratai')

def main(payload=None):
    logger.info('called with %s', payload)
    return {'hello': payload}
`;

export function FunctionsPage({ go }) {
  const functions = useLoad(() => api('/v1/functions'), []);
  const [search, setSearch] = useState('');
  const shown = (functions.data?.functions ?? []).filter((fn) => fn.name.toLowerCase().includes(search.toLowerCase()));
  return html`<section aria-labelledby="functions-title">
    <h1 id="functions-title">Functions</h1>
    <${ErrorBox} error=${functions.error} />
    <label>Search functions <input type="search" value=${search} onInput=${(e) => setSearch(e.currentTarget.value)} /></label>
    <table>
      <caption class="visually-hidden">Functions of the project</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Runtime</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
      <tbody>
        ${shown.map((fn) => html`<tr key=${fn.function_id}>
          <td><a href=${`#/functions/${fn.function_id}`}>${fn.name}</a></td>
          <td>${fn.runtime}</td><td><${Status} value=${fn.status} /></td><td>${when(fn.created_at)}</td>
        </tr>`)}
      </tbody>
    </table>
    ${functions.data && shown.length === 0 ? html`<p>No function${search ? ' matches' : ' yet'}.</p>` : null}
    <${CreateFunction} created=${(fn) => go(`#/functions/${fn.function_id}`)} />
  </section>`;
}

function CreateFunction({ created }) {
  const [source, setSource] = useState('editor');
  const [error, setError] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const data = new FormData(formElement);
    const form = new FormData();
    for (const field of ['name', 'description', 'memory', 'timeout']) {
      const value = String(data.get(field) ?? '').trim();
      if (value !== '') form.append(field, value);
    }
    if (source === 'editor') form.append('zip', functionZip(String(data.get('module')), String(data.get('requirements'))), 'function.zip');
    else if (data.get('zip')?.size) form.append('zip', data.get('zip'));
    setBusy(true);
    setError(undefined);
    try {
      const { function: fn } = await api('/v1/functions', { method: 'POST', form });
      created(fn);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-labelledby="create-title">
    <h2 id="create-title">Create a function</h2>
    <${ErrorBox} error=${error} />
    <label>Name <input name="name" required pattern="[A-Za-z0-9_.-]+" /></label>
    <label>Description <input name="description" /></label>
    <div class="row">
      <label>Memory (MiB) <input name="memory" type="number" min="64" max="4096" placeholder="128" /></label>
      <label>Timeout (s) <input name="timeout" type="number" min="1" max="900" placeholder="30" /></label>
    </div>
    <fieldset>
      <legend>Code</legend>
      <label class="inline"><input type="radio" name="source" value="editor" checked=${source === 'editor'} onChange=${() => setSource('editor')} /> Write it here</label>
      <label class="inline"><input type="radio" name="source" value="zip" checked=${source === 'zip'} onChange=${() => setSource('zip')} /> Upload a zip</label>
    </fieldset>
    ${source === 'editor'
      ? html`<label>new_module.py <textarea name="module" class="code" rows="10" spellcheck="false">${MODULE_TEMPLATE}</textarea></label>
             <label>requirements.txt <textarea name="requirements" class="code" rows="3" spellcheck="false"></textarea></label>`
      : html`<label>Zip holding new_module.py (and requirements.txt) <input name="zip" type="file" accept=".zip,application/zip" required /></label>`}
    <button type="submit" disabled=${busy}>${busy ? 'Creating…' : 'Create function'}</button>
  </form>`;
}
