/**
 * The app page: who is signed in, the organization switcher, the token's remaining lifetime,
 * and a GraphQL query run through the token client every few seconds while the page is shown
 * (shown by result.js).
 *
 * Reads from the DOM (the template owns these); starts only when body[data-graphql-url] exists:
 *   body[data-graphql-url], body[data-organization-id], body[data-query-interval-ms] (optional),
 *   body[data-base-path] (optional: the service's path prefix behind a proxy, e.g. /bff),
 *   body[data-token-margin-seconds] (optional: the service's TOKEN_REFRESH_MARGIN_SECONDS)
 *   [data-testid=user-email], [data-testid=organization-name],
 *   form#organization-form > select[data-testid=organization-switcher],
 *   [data-testid=token-expires-in], [data-testid=graphql-result],
 *   button[data-testid=fetch-token], [data-testid=status], [data-testid=sign-out] (in a form),
 *   section[data-testid=members] (optional: the members card, see members.js),
 *   [data-testid=outage] (see outage.js), [data-testid=no-organization] and [data-needs-organization]
 *   (shown without, and with, an organization: no token is ever asked for without one)
 * Never writes the token into the DOM.
 */
import { createTokenClient, TokenError } from './graphql-token.js';
import { createMembersTable } from './members.js';
import { createOutageNotice, formatCountdown, isOutage, secondsLeft } from './outage.js';
import { createResultView } from './result.js';
import { serviceRequest } from './service-fetch.js';

export { describeErrors, summarize } from './result.js';
export { secondsLeft };

const ME = 'me { id email firstName lastName }';
export const QUERY_WITH_ORGANIZATION = `query AppPage($id: ID!) { ${ME} organization(id: $id) { id name } }`;
export const QUERY_WITHOUT_ORGANIZATION = `query AppPage { ${ME} }`;
const DEFAULT_QUERY_INTERVAL_MS = 5000;
// How often the page asks whether its session still exists (WorkOS may end it: a revoked
// session, a deleted user). No WorkOS call is made for it.
const SESSION_CHECK_MS = 15000;

/** A readable line for a failed token fetch or GraphQL request. */
export function describeFailure(err) {
  const known = [
    err?.status ? `HTTP ${err.status}` : null,
    err?.code,
    err?.requestId ? `request ${err.requestId}` : null,
  ].filter(Boolean);
  return `${err?.message ?? String(err)}${known.length ? ` (${known.join(', ')})` : ''}`;
}

/**
 * Token client options for the service's refresh margin (body[data-token-margin-seconds]).
 * The service hands out the same token until its margin is left, so refreshing ahead of that
 * only costs a request; and its expires_in is rounded down (the token may be up to a second
 * older than it says), so ask once a second less than the margin is left: by then the service
 * has a new token, and each token costs one fetch. No (valid) margin: the client's defaults.
 */
export function marginOptions(value) {
  const margin = value == null || String(value).trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(margin) || margin < 0) return {};
  return { marginSeconds: Math.max(0, margin - 1), refreshAheadSeconds: 0 };
}

function main() {
  const body = document.body;
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
  const ui = {
    email: byTestId('user-email'),
    organizationName: byTestId('organization-name'),
    form: document.getElementById('organization-form'),
    switcher: document.querySelector('select[data-testid="organization-switcher"]'),
    expiresIn: byTestId('token-expires-in'),
    result: byTestId('graphql-result'),
    fetchButton: document.querySelector('button[data-testid="fetch-token"]'),
    status: byTestId('status'),
    signOut: byTestId('sign-out'),
  };
  const queryIntervalMs = Number(body.dataset.queryIntervalMs) || DEFAULT_QUERY_INTERVAL_MS;
  const base = body.dataset.basePath || ''; // every URL of the service starts with it
  const state = {
    organizationId: body.dataset.organizationId || null,
    tokenDeadline: null,
    querySeq: 0,
    queryTimer: null,
    paused: false, // after a refusal only the user can fix (403): wait for them
    sessionStale: false,
    switching: false,
    leaving: false,
    holdUntil: null, // after an outage: no query before then (the notice counts down to it)
  };
  const client = createTokenClient({
    baseUrl: base,
    graphqlUrl: body.dataset.graphqlUrl,
    organizationId: state.organizationId,
    ...marginOptions(body.dataset.tokenMarginSeconds),
  });

  const members = createMembersTable({
    client,
    root: document.querySelector('section[data-testid="members"]'),
    describeFailure,
    isOutage: (err) => err instanceof TokenError && isOutage(err),
  });
  const outage = createOutageNotice(byTestId('outage'));
  const view = createResultView(ui.result, describeFailure);

  function say(text, tone = 'info') {
    if (!ui.status) return;
    if (ui.status.textContent !== text) ui.status.textContent = text;
    ui.status.dataset.tone = tone;
  }

  function leave() {
    if (state.leaving) return;
    state.leaving = true;
    client.stop();
    // The sign-in page then says why: the session ended without this tab asking for it.
    window.location.assign(`${base}/?ended=1`);
  }

  function renderCountdown() {
    if (!ui.expiresIn) return;
    if (state.tokenDeadline === null) {
      ui.expiresIn.textContent = 'none yet';
      delete ui.expiresIn.dataset.seconds;
      return;
    }
    const seconds = secondsLeft(state.tokenDeadline, performance.now());
    ui.expiresIn.textContent = formatCountdown(seconds);
    ui.expiresIn.dataset.seconds = String(seconds);
  }

  function setOrganization(id) {
    state.organizationId = id || null;
    body.dataset.organizationId = id || '';
    // Without an organization no token can be had: no button that can never work.
    for (const node of document.querySelectorAll('[data-needs-organization]')) node.hidden = !id;
    const guidance = byTestId('no-organization');
    if (guidance) guidance.hidden = Boolean(id);
  }

  /** Hold queries until the token client's next chance, and say so once, counting down. */
  function holdFor(detail, retryAt) {
    state.holdUntil = retryAt;
    outage.show(detail, retryAt);
  }

  function renderSession(session) {
    if (ui.email) ui.email.textContent = session.user?.email ?? '';
    const organizationName = session.organization?.name ?? 'No organization';
    if (ui.organizationName) ui.organizationName.textContent = organizationName;
    setOrganization(session.organization?.id);
    if (!ui.switcher) return;
    const organizations = session.organizations ?? [];
    const wanted = organizations.map((org) => `${org.id}\u0000${org.name}`).join('\n');
    const shown = [...ui.switcher.options]
      .filter((option) => option.value)
      .map((option) => `${option.value}\u0000${option.textContent}`)
      .join('\n');
    if (wanted !== shown) {
      const options = organizations.map((org) => new Option(org.name, org.id));
      if (!state.organizationId) options.unshift(new Option('Choose an organization', '', true, true));
      ui.switcher.replaceChildren(...options);
    }
    ui.switcher.value = state.organizationId ?? '';
  }

  async function refreshSession() {
    state.sessionStale = false;
    state.sessionCheckedAt = performance.now();
    try {
      const response = await fetch(`${base}/api/session`, serviceRequest());
      if (response.status === 401) return leave();
      if (response.ok) renderSession(await response.json());
    } catch {
      state.sessionStale = true; // try again on the next tick
    }
  }

  async function runQuery() {
    if (!ui.result) return;
    const seq = ++state.querySeq;
    const id = state.organizationId;
    ui.result.setAttribute('aria-busy', 'true');
    try {
      const result = id
        ? await client.graphql(QUERY_WITH_ORGANIZATION, { id })
        : await client.graphql(QUERY_WITHOUT_ORGANIZATION, {});
      if (seq !== state.querySeq) return;
      view.show(result);
    } catch (err) {
      if (seq !== state.querySeq || err?.status === 401 || err?.code === 'stopped') return;
      // No token: the outage notice or the status line says why, once; not here again.
      if (err instanceof TokenError) view.wait();
      else view.fail(err);
      if (err?.status === 403) state.paused = true;
    } finally {
      if (seq === state.querySeq) ui.result.removeAttribute('aria-busy');
    }
  }

  async function tick() {
    clearTimeout(state.queryTimer);
    state.queryTimer = null;
    if (state.leaving) return;
    // A hidden page runs no query (each may need a token, and a token a WorkOS call); the
    // visibilitychange listener below ticks again when the page is shown.
    if (document.visibilityState === 'hidden') return;
    if (!state.paused && !state.switching) {
      const due = performance.now() - (state.sessionCheckedAt ?? 0) >= SESSION_CHECK_MS;
      if (state.sessionStale || due) await refreshSession();
      if (state.organizationId && !(state.holdUntil > performance.now())) await runQuery();
    }
    // A tick started elsewhere (a switch, the page becoming visible) may have armed one already.
    clearTimeout(state.queryTimer);
    const held = (state.holdUntil ?? 0) - performance.now();
    if (!state.leaving) state.queryTimer = setTimeout(tick, held > 0 ? held : queryIntervalMs);
  }

  async function switchOrganization(id) {
    if (!id || id === state.organizationId || state.switching) return;
    state.switching = true;
    if (ui.switcher) ui.switcher.disabled = true;
    say('Switching organization…');
    let switched = false;
    try {
      const response = await fetch(
        `${base}/api/organization`,
        serviceRequest({ method: 'POST', body: { organization_id: id } }),
      );
      const answer = await response.json().catch(() => null);
      if (response.status === 401) return leave();
      if (!response.ok) {
        const failure = {
          message: answer?.message ?? 'The switch was refused',
          status: response.status,
          code: answer?.error,
          requestId: answer?.request_id,
        };
        say(`Could not switch organization: ${describeFailure(failure)}`, 'error');
        return;
      }
      setOrganization(answer?.organization_id ?? id);
      client.reset();
      state.paused = false;
      view.forget();
      await refreshSession();
      switched = true;
      say(`Switched to ${ui.organizationName?.textContent || state.organizationId}.`);
      members.reset();
    } catch (err) {
      say(`Could not switch organization: ${describeFailure(err)}`, 'error');
    } finally {
      state.switching = false;
      if (ui.switcher) {
        ui.switcher.disabled = false;
        ui.switcher.value = state.organizationId ?? '';
      }
    }
    if (switched) await Promise.all([tick(), members.load()]);
  }

  client.addEventListener('token', ({ detail }) => {
    state.tokenDeadline = performance.now() + detail.expiresIn * 1000;
    state.paused = false;
    state.holdUntil = null;
    renderCountdown();
    if (outage.active) {
      outage.clear();
      members.load(); // it gave up waiting for a token
    }
    if (ui.status?.dataset.tone === 'error' && !state.switching) say('');
    // The session's organization changed elsewhere (another tab switched it).
    if (detail.organizationId && detail.organizationId !== state.organizationId && !state.switching) {
      state.sessionStale = true;
    }
  });
  client.addEventListener('reset', ({ detail }) => {
    state.tokenDeadline = null;
    renderCountdown();
    // Another tab switched organization or signed out: look again on the next tick.
    if (detail.source === 'channel') state.sessionStale = true;
  });
  client.addEventListener('signedout', leave);
  client.addEventListener('retry', ({ detail }) => {
    if (!state.leaving && isOutage(detail)) holdFor(detail, performance.now() + detail.delayMs);
  });
  client.addEventListener('error', ({ detail }) => {
    if (state.leaving) return;
    if (!isOutage(detail)) return say(`Token service: ${describeFailure(detail)}`, 'error');
    // The client gave up for now; the page asks again on its next query, or after Retry-After.
    const waitMs = Math.max(queryIntervalMs, (detail.retryAfter ?? 0) * 1000);
    holdFor(detail, performance.now() + waitMs);
  });

  ui.form?.addEventListener('submit', (event) => {
    event.preventDefault();
    switchOrganization(ui.switcher?.value);
  });
  ui.switcher?.addEventListener('change', () => switchOrganization(ui.switcher.value));
  ui.fetchButton?.addEventListener('click', async () => {
    ui.fetchButton.disabled = true;
    try {
      await client.refresh();
      state.paused = false;
      say('Fetched a token.');
    } catch (err) {
      if (err?.status !== 401 && !isOutage(err)) say(`Could not fetch a token: ${describeFailure(err)}`, 'error');
    } finally {
      ui.fetchButton.disabled = false;
    }
  });
  // Tell other tabs to drop their token; the form itself still posts without JS.
  ui.signOut?.closest('form')?.addEventListener('submit', () => client.reset());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && !state.switching) tick();
  });

  setInterval(() => {
    renderCountdown();
    outage.render();
  }, 1000);
  renderCountdown();
  client.start();
  refreshSession();
  tick();
  if (state.organizationId) members.load();
}

// Only the app page carries data-graphql-url; anywhere else (or outside a browser) do nothing.
if (typeof document !== 'undefined' && document.body && 'graphqlUrl' in document.body.dataset) main();
