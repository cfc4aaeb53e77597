/**
 * The app page's time words: the token countdown as m:ss, and the outage notice, which says
 * once, in words, that WorkOS (or the service) is not answering and counts down to the token
 * client's next attempt, with the error code and request id behind a <details> disclosure.
 *
 * Reads from the DOM (service/templates/token_service/app.html owns these), inside [data-testid=outage]:
 *   [data-testid=outage-what], [data-testid=outage-retry], [data-testid=outage-status],
 *   [data-testid=outage-code], [data-testid=outage-request] > [data-testid=outage-request-id]
 * Sets [data-testid=outage][data-retry-in] to the whole seconds left before the next attempt.
 */

/** Whole seconds left until `deadline` on the monotonic clock, never negative. */
export function secondsLeft(deadline, now) {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** "4:58" for 298 seconds, "0:07" for 7, "1:02:03" past an hour. */
export function formatCountdown(seconds) {
  const total = Math.max(0, Math.floor(Number(seconds) || 0));
  const [hours, minutes, rest] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const ss = String(rest).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${ss}` : `${minutes}:${ss}`;
}

/** True for a failure the token client waits out (no answer, 429, 503): an outage, not a refusal. */
export function isOutage(failure) {
  const status = failure?.status;
  return (status === 0 || status === 429 || status === 503) && failure?.code !== 'stopped';
}

/** Who is not answering, from the failure's code: what a person can make sense of. */
export function outageWhat(failure) {
  const code = String(failure?.code ?? '');
  if (failure?.status === 429) return 'Too many requests for the moment';
  if (code.startsWith('upstream_')) return 'WorkOS is not answering';
  if (code === 'session_store_unavailable') return 'The sign-in store is not answering';
  return 'The token service is not answering';
}

/** "retrying in 4 s", or "retrying now…" once the wait is over. */
export function retryText(seconds) {
  return seconds > 0 ? `retrying in ${seconds} s` : 'retrying now…';
}

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/**
 * Wire the outage notice; returns {show(failure, retryAt), clear(), render(), active}.
 * `retryAt` is when the next attempt goes out, on the clock `now` reads (performance.now()).
 */
export function createOutageNotice(root, now = () => performance.now()) {
  const state = { active: false, deadline: null };
  const part = (id) => root?.querySelector(`[data-testid="${id}"]`);
  const ui = {
    what: part('outage-what'),
    retry: part('outage-retry'),
    status: part('outage-status'),
    code: part('outage-code'),
    request: part('outage-request'),
    requestId: part('outage-request-id'),
  };

  function render() {
    if (!state.active || !root) return;
    const seconds = state.deadline === null ? 0 : secondsLeft(state.deadline, now());
    setText(ui.retry, retryText(seconds));
    root.dataset.retryIn = String(seconds);
  }

  function show(failure, retryAt) {
    state.active = true;
    state.deadline = Number.isFinite(retryAt) ? retryAt : null;
    if (!root) return;
    setText(ui.what, `${outageWhat(failure)};`);
    setText(ui.status, failure?.status ? `HTTP ${failure.status}` : 'No answer');
    setText(ui.code, failure?.code ?? 'unknown');
    setText(ui.requestId, failure?.requestId ?? '');
    if (ui.request) ui.request.hidden = !failure?.requestId;
    root.hidden = false;
    render();
  }

  function clear() {
    state.active = false;
    state.deadline = null;
    if (root) {
      root.hidden = true;
      delete root.dataset.retryIn;
    }
  }

  return {
    show,
    clear,
    render,
    get active() {
      return state.active;
    },
  };
}
