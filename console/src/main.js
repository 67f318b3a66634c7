/**
 * The Pratai console: a single-page application over the public REST API, served by the API at
 * /console/. Pages are addressed by the URL's hash (#/functions/ID), so the server serves one
 * page and reloading any of them works.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { api, session, setSession, whenSessionEnds } from './api.js';
import { FunctionPage } from './function-page.js';
import { EventsPage } from './events-page.js';
import { FunctionsPage } from './functions-page.js';
import { JobsPage } from './jobs-page.js';
import { RunnersPage, RuntimesPage, SecretsPage } from './lists.js';
import { RequestPage } from './request-page.js';
import { SignIn } from './sign-in.js';
import { WorkflowPage, WorkflowsPage } from './workflows-page.js';
import { ErrorBox, html } from './ui.js';

const NAV = [
  ['#/functions', 'Functions'],
  ['#/jobs', 'Jobs'],
  ['#/events', 'Events'],
  ['#/workflows', 'Workflows'],
  ['#/runtimes', 'Runtimes'],
  ['#/secrets', 'Secrets'],
  ['#/runners', 'Runners'],
];

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/functions');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/functions');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

const go = (hash) => {
  location.hash = hash;
};

function Page({ hash }) {
  const [, section, id] = hash.split('/');
  if (section === 'functions' && id) return html`<${FunctionPage} id=${id} go=${go} />`;
  if (section === 'requests' && id) return html`<${RequestPage} id=${id} />`;
  if (section === 'workflows' && id) return html`<${WorkflowPage} id=${id} />`;
  if (section === 'workflows') return html`<${WorkflowsPage} />`;
  if (section === 'jobs') return html`<${JobsPage} />`;
  if (section === 'events') return html`<${EventsPage} />`;
  if (section === 'runtimes') return html`<${RuntimesPage} />`;
  if (section === 'secrets') return html`<${SecretsPage} />`;
  if (section === 'runners') return html`<${RunnersPage} />`;
  return html`<${FunctionsPage} go=${go} />`;
}

/**
 * Whether this browser is let in: `open` (auth_strategy = noauth, straight in), `signed-in` (a
 * kept Keystone session) or `sign-in`, with a message when a session just ended.
 */
function useAccess() {
  const [access, setAccess] = useState({ state: 'checking' });
  const check = (message) => {
    api('/console/config.json').then(
      (config) => {
        if (config.auth_strategy !== 'keystone') setAccess({ state: 'open' });
        else if (session()) setAccess({ state: 'signed-in', session: session() });
        else setAccess({ state: 'sign-in', message });
      },
      (error) => setAccess({ state: 'error', error }),
    );
  };
  useEffect(() => {
    whenSessionEnds((error) => check(`You were signed out: ${error.message}. Sign in again.`));
    check();
  }, []);
  return [access, check];
}

function App() {
  const hash = useHash();
  const [access, recheck] = useAccess();
  useEffect(() => {
    document.querySelector('main')?.focus();
  }, [hash]);
  const signOut = () => {
    setSession(undefined);
    recheck('You signed out.');
  };
  const who = access.session;
  return html`<a class="skip" href="#content" onClick=${(e) => { e.preventDefault(); document.getElementById('content')?.focus(); }}>Skip to content</a>
    <header>
      <span class="brand">Pratai</span>
      ${access.state === 'open' || access.state === 'signed-in'
        ? html`<nav aria-label="Console">${NAV.map(([href, label]) => html`<a href=${href} aria-current=${hash.startsWith(href) ? 'page' : undefined}>${label}</a>`)}</nav>`
        : null}
      ${access.state === 'signed-in'
        ? html`<span class="muted signed-in" title=${`Roles: ${who.roles.join(', ')}`}>${who.user.name} in ${who.project.name}</span>
            <button type="button" class="link" onClick=${signOut}>Sign out</button>`
        : null}
      ${access.state === 'open' ? html`<span class="muted" title="The API runs with auth_strategy = noauth">no authentication</span>` : null}
    </header>
    <main id="content" tabindex="-1">
      ${access.state === 'checking' ? html`<p>Connecting…</p>` : null}
      ${access.state === 'error' ? html`<${ErrorBox} error=${access.error} />` : null}
      ${access.state === 'sign-in' ? html`<${SignIn} message=${access.message} signedIn=${() => recheck()} />` : null}
      ${access.state === 'open' || access.state === 'signed-in' ? html`<${Page} hash=${hash} />` : null}
    </main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the page's "Loading" line
render(html`<${App} />`, root);
