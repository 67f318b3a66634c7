/**
 * Workflows (FaaSr documents run by the platform): the list, and one workflow's invocations, each
 * opened to its actions' instances and their status, refreshed while the invocation runs.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, Status, useLoad, when } from './ui.js';

export function WorkflowsPage() {
  const workflows = useLoad(() => api('/v1/workflows'), []);
  return html`<section aria-labelledby="workflows-title">
    <h1 id="workflows-title">Workflows</h1>
    <p class="muted">Made from a FaaSr document and its code with <code>pratai workflow create</code>.</p>
    <${ErrorBox} error=${workflows.error} />
    <table>
      <caption class="visually-hidden">Workflows of the project</caption>
      <thead><tr><th scope="col">Workflow</th><th scope="col">First action</th><th scope="col">Actions</th><th scope="col">Created</th></tr></thead>
      <tbody>${(workflows.data?.workflows ?? []).map((w) => html`<tr key=${w.workflow_id}>
        <td><a href=${`#/workflows/${w.workflow_id}`}>${w.name}</a></td><td>${w.first_action}</td><td>${w.actions.join(', ')}</td><td>${when(w.created_at)}</td>
      </tr>`)}</tbody>
    </table>
    ${workflows.data && workflows.data.workflows.length === 0 ? html`<p>No workflow yet.</p>` : null}
  </section>`;
}

export function WorkflowPage({ id }) {
  const workflow = useLoad(() => api(`/v1/workflows/${id}`).then((body) => body.workflow), [id]);
  const invocations = useLoad(() => api(`/v1/workflows/${id}/invocations`).then((body) => body.invocations), [id]);
  const [open, setOpen] = useState(undefined);
  const [error, setError] = useState(undefined);
  const running = (invocations.data ?? []).some((i) => i.status === 'running');
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(invocations.reload, 1000);
    return () => clearInterval(timer);
  }, [running, invocations.reload]);
  const start = async () => {
    setError(undefined);
    try {
      const answer = await api(`/v1/workflows/${id}/invocations`, { method: 'POST' });
      setOpen(answer.invocation.invocation_id);
      invocations.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  const w = workflow.data;
  if (!w) return html`<${ErrorBox} error=${workflow.error} />${workflow.error ? null : html`<p>Loading…</p>`}`;
  return html`<section aria-labelledby="workflow-title">
    <p><a href="#/workflows">← Workflows</a></p>
    <h1 id="workflow-title">${w.name}</h1>
    <dl class="facts">
      <dt>Status</dt><dd><${Status} value=${w.status} /></dd>
      <dt>Actions</dt><dd>${w.actions.join(', ')}</dd>
      <dt>Id</dt><dd><code>${w.workflow_id}</code></dd>
    </dl>
    <${ErrorBox} error=${workflow.error ?? invocations.error ?? error} />
    <button type="button" onClick=${start} disabled=${w.status !== 'ready'}>Start an invocation</button>
    <h2>Invocations</h2>
    <table>
      <caption class="visually-hidden">Invocations of the workflow, newest first</caption>
      <thead><tr><th scope="col">InvocationID</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${(invocations.data ?? []).map((i) => html`<tr key=${i.invocation_id} data-invocation=${i.invocation_id}>
        <td><code>${i.InvocationID}</code></td><td><${Status} value=${i.status} /></td><td>${when(i.created_at)}</td><td>${when(i.finished_at)}</td>
        <td><button type="button" aria-expanded=${open === i.invocation_id} onClick=${() => setOpen(open === i.invocation_id ? undefined : i.invocation_id)} aria-label=${`Actions of invocation ${i.InvocationID}`}>${open === i.invocation_id ? 'Hide actions' : 'Show actions'}</button></td>
      </tr>`)}</tbody>
    </table>
    ${invocations.data && invocations.data.length === 0 ? html`<p>No invocation yet.</p>` : null}
    ${open ? html`<${Invocation} workflowId=${id} invocationId=${open} />` : null}
  </section>`;
}

function Invocation({ workflowId, invocationId }) {
  const invocation = useLoad(() => api(`/v1/workflows/${workflowId}/invocations/${invocationId}`).then((body) => body.invocation), [workflowId, invocationId]);
  // Polled until it ends: its actions change as the engine starts them.
  const polling = invocation.data === undefined ? invocation.error === undefined : invocation.data.status === 'running';
  useEffect(() => {
    if (!polling) return undefined;
    const timer = setInterval(invocation.reload, 1000);
    return () => clearInterval(timer);
  }, [polling, invocation.reload]);
  const i = invocation.data;
  return html`<section class="card" aria-labelledby="invocation-title">
    <h2 id="invocation-title">Invocation ${i?.InvocationID ?? ''} ${i ? html`<${Status} value=${i.status} />` : null}</h2>
    <${ErrorBox} error=${invocation.error} />
    ${i ? html`<p class="muted">FaaSr logs in <code>${i.log_folder}</code></p>` : null}
    <table>
      <caption class="visually-hidden">The invocation's action instances</caption>
      <thead><tr><th scope="col">Action</th><th scope="col">Rank</th><th scope="col">Status</th><th scope="col">Result</th><th scope="col">Request</th><th scope="col">Attempts</th><th scope="col">Finished</th></tr></thead>
      <tbody>${(i?.actions ?? []).map((a) => html`<tr key=${`${a.action}.${a.rank}`} data-action=${a.action}>
        <td>${a.action}</td><td>${a.max_rank > 1 ? `${a.rank} / ${a.max_rank}` : ''}</td><td><${Status} value=${a.status} /></td>
        <td>${a.result === null || a.result === undefined ? '' : String(a.result)}</td>
        <td>${a.request_id ? html`<a href=${`#/requests/${a.request_id}`}><code>${a.request_id.slice(0, 12)}</code></a>` : '—'}</td>
        <td>${a.attempts ?? ''}</td><td>${when(a.finished_at)}</td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}
