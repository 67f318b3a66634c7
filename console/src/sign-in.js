/**
 * Signing in with Keystone: the API asks Keystone for a project-scoped token with the user's
 * password (`POST /v1/auth/tokens`, the browser cannot reach Keystone across origins), and the
 * console keeps the token (with who it names) for the tab's session.
 */
import { useState } from 'preact/hooks';
import { api, setSession } from './api.js';
import { ErrorBox, html } from './ui.js';

export function SignIn({ signedIn, message }) {
  const [error, setError] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.currentTarget));
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api('/v1/auth/tokens', { method: 'POST', json: data });
      setSession(answer);
      signedIn();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card narrow" onSubmit=${submit} aria-labelledby="sign-in-title">
    <h1 id="sign-in-title">Sign in</h1>
    <p class="muted">With your OpenStack (Keystone) user.</p>
    ${message && !error ? html`<p class="notice" role="status">${message}</p>` : null}
    <${ErrorBox} error=${error} />
    <label>User <input name="username" autocomplete="username" required /></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
    <label>Project <input name="project_name" required /></label>
    <label>User domain <input name="user_domain_name" value="Default" required /></label>
    <label>Project domain <input name="project_domain_name" value="Default" required /></label>
    <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
  </form>`;
}
