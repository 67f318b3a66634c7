/** Events: names functions subscribe to; a message published to one queues a request of each subscriber. */
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, html, useLoad, when } from './ui.js';

export function EventsPage() {
  const events = useLoad(() => api('/v1/events'), []);
  const [error, setError] = useState(undefined);
  const remove = async (event) => {
    if (!window.confirm(`Delete event ${event.name}?`)) return;
    setError(undefined);
    try {
      await api(`/v1/events/${encodeURIComponent(event.name)}`, { method: 'DELETE' });
      events.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<section aria-labelledby="events-title">
    <h1 id="events-title">Events</h1>
    <${ErrorBox} error=${events.error ?? error} />
    <table>
      <caption class="visually-hidden">Events of the project</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">Description</th><th scope="col">Subscribers</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${(events.data?.events ?? []).map((e) => html`<tr key=${e.name} data-event=${e.name}>
        <td>${e.name}</td><td>${e.description}</td>
        <td>${e.functions.map((fn) => html`<a href=${`#/functions/${fn.function_id}`}>${fn.name}</a>${fn.qualifier ? `:${fn.qualifier}` : ''} `)}</td>
        <td>${when(e.created_at)}</td>
        <td><button type="button" class="danger" onClick=${() => remove(e)} aria-label=${`Delete event ${e.name}`}>Delete</button></td>
      </tr>`)}</tbody>
    </table>
    ${events.data && events.data.events.length === 0 ? html`<p>No event yet.</p>` : null}
    <div class="grid two">
      <${CreateEvent} created=${events.reload} />
      <${Publish} events=${events.data?.events ?? []} />
    </div>
  </section>`;
}

function CreateEvent({ created }) {
  const [error, setError] = useState(undefined);
  const create = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    setError(undefined);
    try {
      await api('/v1/events', { method: 'POST', json: { name: String(data.get('name') ?? ''), description: String(data.get('description') ?? '') } });
      form.reset();
      created();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="card" onSubmit=${create} aria-labelledby="new-event-title">
    <h2 id="new-event-title">New event</h2>
    <${ErrorBox} error=${error} />
    <label>Event name <input name="name" required /></label>
    <label>Event description <input name="description" /></label>
    <button type="submit">Create event</button>
  </form>`;
}

function Publish({ events }) {
  const [error, setError] = useState(undefined);
  const [result, setResult] = useState(undefined);
  const publish = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setError(undefined);
    setResult(undefined);
    let payload;
    try {
      payload = JSON.parse(String(data.get('payload') ?? ''));
    } catch (failure) {
      setError({ code: 'InvalidJson', message: `The message is not valid JSON: ${failure.message}` });
      return;
    }
    try {
      setResult(await api(`/v1/events/${encodeURIComponent(String(data.get('event') ?? ''))}/messages`, { method: 'POST', json: { payload } }));
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="card" onSubmit=${publish} aria-labelledby="publish-title">
    <h2 id="publish-title">Publish a message</h2>
    <label>To event <select name="event" required>${events.map((e) => html`<option key=${e.name} value=${e.name}>${e.name}</option>`)}</select></label>
    <label>Message payload (JSON) <textarea name="payload" class="code" rows="3" spellcheck="false">{"key": "value"}</textarea></label>
    <button type="submit" disabled=${events.length === 0}>Publish</button>
    <div aria-live="polite">
      <${ErrorBox} error=${error} />
      ${result ? html`<div class="outcome published"><p>${result.request_ids.length} request(s) queued${result.request_ids.length === 0 ? ': no function subscribes to it' : ''}</p>
        <ul>${result.request_ids.map((id) => html`<li><a href=${`#/requests/${id}`}>request ${id}</a></li>`)}</ul></div>` : null}
    </div>
  </form>`;
}
