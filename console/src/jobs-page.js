/** Jobs: a function called on a cron schedule (seconds first); made for a chosen function, paused, resumed, deleted. */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, Status, useLoad, when } from './ui.js';

export function JobsPage() {
  const jobs = useLoad(() => api('/v1/jobs'), []);
  const functions = useLoad(() => api('/v1/functions'), []);
  const [error, setError] = useState(undefined);
  // A running job fires on its own: its runs and requests show up without a reload.
  const running = (jobs.data?.jobs ?? []).some((job) => job.status === 'running');
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(jobs.reload, 2000);
    return () => clearInterval(timer);
  }, [running, jobs.reload]);
  const names = new Map((functions.data?.functions ?? []).map((fn) => [fn.function_id, fn.name]));
  const act = async (call) => {
    setError(undefined);
    try {
      await call();
      jobs.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  const setStatus = (job, status) => act(() => api(`/v1/jobs/${job.job_id}`, { method: 'PATCH', json: { status } }));
  const remove = (job) => {
    if (!window.confirm(`Delete job ${job.name || job.job_id}? Requests it already made stay.`)) return;
    void act(() => api(`/v1/jobs/${job.job_id}`, { method: 'DELETE' }));
  };
  const label = (job) => job.name || job.job_id.slice(0, 12);
  return html`<section aria-labelledby="jobs-title">
    <h1 id="jobs-title">Jobs</h1>
    <${ErrorBox} error=${jobs.error ?? error} />
    <table>
      <caption class="visually-hidden">Jobs of the project</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">Function</th><th scope="col">Pattern</th><th scope="col">Status</th><th scope="col">Runs</th><th scope="col">Next</th><th scope="col">Last</th><th scope="col">Last requests</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${(jobs.data?.jobs ?? []).map((job) => html`<tr key=${job.job_id} data-job=${job.job_id}>
        <td>${label(job)}</td>
        <td><a href=${`#/functions/${job.function_id}`}>${names.get(job.function_id) ?? job.function_id.slice(0, 12)}</a>${job.qualifier ? `:${job.qualifier}` : ''}</td>
        <td><code>${job.pattern}</code> <span class="muted">${job.timezone}</span></td>
        <td><${Status} value=${job.status} /></td>
        <td>${job.executions}${job.count === null ? '' : ` (${job.count} left)`}</td>
        <td>${when(job.next_execution_time)}</td><td>${when(job.last_execution_time)}</td>
        <td>${job.last_request_ids.map((id) => html`<a class="request-link" href=${`#/requests/${id}`}><code>${id.slice(0, 12)}</code></a> `)}</td>
        <td>
          ${job.status === 'running' ? html`<button type="button" onClick=${() => setStatus(job, 'paused')} aria-label=${`Pause job ${label(job)}`}>Pause</button> ` : null}
          ${job.status === 'paused' ? html`<button type="button" onClick=${() => setStatus(job, 'running')} aria-label=${`Resume job ${label(job)}`}>Resume</button> ` : null}
          <button type="button" class="danger" onClick=${() => remove(job)} aria-label=${`Delete job ${label(job)}`}>Delete</button>
        </td>
      </tr>`)}</tbody>
    </table>
    ${jobs.data && jobs.data.jobs.length === 0 ? html`<p>No job yet.</p>` : null}
    <${CreateJob} functions=${functions.data?.functions ?? []} created=${jobs.reload} />
  </section>`;
}

function CreateJob({ functions, created }) {
  const [error, setError] = useState(undefined);
  const [done, setDone] = useState(undefined);
  const create = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setError(undefined);
    setDone(undefined);
    const body = { function_id: String(data.get('function_id') ?? ''), name: String(data.get('name') ?? ''), pattern: String(data.get('pattern') ?? ''), timezone: String(data.get('timezone') || 'UTC') };
    const count = String(data.get('count') ?? '');
    if (count !== '') body.count = Number(count);
    const payload = String(data.get('payload') ?? '');
    if (payload.trim() !== '') {
      try {
        body.payload = JSON.parse(payload);
      } catch (failure) {
        setError({ code: 'InvalidJson', message: `The payload is not valid JSON: ${failure.message}` });
        return;
      }
    }
    try {
      const answer = await api('/v1/jobs', { method: 'POST', json: body });
      setDone(answer.job);
      created();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="card" onSubmit=${create} aria-labelledby="new-job-title">
    <h2 id="new-job-title">New job</h2>
    <${ErrorBox} error=${error} />
    <div class="grid">
      <label>Function <select name="function_id" required>${functions.map((fn) => html`<option key=${fn.function_id} value=${fn.function_id}>${fn.name}</option>`)}</select></label>
      <label>Job name <input name="name" /></label>
      <label>Pattern (cron; 6 fields: seconds first) <input name="pattern" required placeholder="0 */5 * * * *" /></label>
      <label>Timezone <input name="timezone" placeholder="UTC" /></label>
      <label>Count (empty: no end) <input name="count" type="number" min="1" /></label>
    </div>
    <label>Job payload (JSON) <textarea name="payload" class="code" rows="2" spellcheck="false"></textarea></label>
    <button type="submit">Create job</button>
    ${done ? html`<span role="status" class="saved">Job created; first run ${when(done.next_execution_time)}.</span>` : null}
  </form>`;
}
