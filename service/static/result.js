/**
 * The app page's GraphQL card: the query's answer in words (who, for which organization), the
 * GraphQL errors if any, and the JSON; or why no answer came.
 *
 * Writes into [data-testid=graphql-result] (service/templates/token_service/app.html owns it) and sets its
 * data-state: ok, error (GraphQL errors, or the request failed), waiting (no token to send).
 */

/** "Alice Anders <alice@acme.com> · Acme Corp" from the query's data. */
export function summarize(data) {
  const parts = [];
  const me = data?.me;
  if (me) {
    const name = [me.firstName, me.lastName].filter(Boolean).join(' ');
    parts.push(name && me.email ? `${name} <${me.email}>` : name || me.email || me.id);
  }
  if (data?.organization?.name) parts.push(data.organization.name);
  return parts.join(' · ');
}

/** "Unauthorized (me); Not found (organization)" from a GraphQL errors array. */
export function describeErrors(errors) {
  return errors
    .map((error) => {
      const where = Array.isArray(error?.path) && error.path.length ? ` (${error.path.join('.')})` : '';
      return `${error?.message ?? 'Unknown error'}${where}`;
    })
    .join('; ');
}

function paragraph(className, text) {
  const node = document.createElement('p');
  node.className = className;
  node.textContent = text;
  return node;
}

/** Wire the card; returns {show(result), fail(err), wait(), forget()}. Does nothing without it. */
export function createResultView(root, describeFailure) {
  let shown = null; // the JSON on screen: an unchanged answer is not redrawn every few seconds

  function replace(state, ...nodes) {
    if (!root) return;
    root.replaceChildren(...nodes);
    root.dataset.state = state;
  }

  function show(result) {
    const errors = result.errors ?? [];
    const json = JSON.stringify(errors.length ? result : { data: result.data }, null, 2);
    if (json === shown) return;
    shown = json;
    const nodes = [paragraph('graphql-summary', summarize(result.data) || 'No data')];
    if (errors.length) nodes.push(paragraph('graphql-errors', `GraphQL errors: ${describeErrors(errors)}`));
    const pre = document.createElement('pre');
    pre.textContent = json;
    nodes.push(pre);
    replace(errors.length ? 'error' : 'ok', ...nodes);
  }

  function fail(err) {
    shown = null;
    replace('error', paragraph('graphql-errors', `Could not run the query: ${describeFailure(err)}`));
  }

  /** No token to send: the reason is shown once elsewhere (outage notice, status line). */
  function wait() {
    shown = null;
    replace('waiting', paragraph('muted', 'The query runs again once there is a token.'));
  }

  function forget() {
    shown = null;
  }

  return { show, fail, wait, forget };
}
