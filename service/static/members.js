/**
 * The members card of the app page: what the Widgets API is for. Lists the organization's
 * members a page at a time (`organizationMemberships`), and lets a user whose role allows it
 * change a member's role (`updateMemberRole`) or remove them (`removeMember`), all through the
 * browser token client. A refusal is explained: FORBIDDEN means the role lacks the permission.
 *
 * Reads from the DOM (service/templates/token_service/app.html owns these), inside section[data-testid=members]:
 *   tbody[data-testid=members-rows], button[data-testid=members-previous|members-next],
 *   [data-testid=members-page], [data-testid=members-status]
 * Writes one tr[data-testid=member-row][data-user-id] per member, with [data-testid=member-name],
 * member-email, member-status, select[data-testid=member-role], button[data-testid=member-save-role]
 * and button[data-testid=member-remove] (a second click confirms).
 */

export const MEMBERS_PAGE_SIZE = 5;
export const MANAGE_PERMISSION = 'widgets:users-table:manage';

export const MEMBERS_QUERY = `query Members($limit: Int, $after: String, $before: String) {
  organizationMemberships(limit: $limit, after: $after, before: $before) {
    data { id email firstName lastName status roles { name slug } }
    listMetadata { after before }
  }
  roles { roles { name slug } }
}`;

export const UPDATE_MEMBER_ROLE = `mutation UpdateMemberRole($userId: ID!, $roleSlugs: [String!]!) {
  updateMemberRole(input: { userId: $userId, roleSlugs: $roleSlugs }) {
    __typename
    ... on MemberRoleUpdated { member { id email roles { name slug } } }
    ... on MemberNotFound { userId }
    ... on RoleNotFound { roleSlugs }
  }
}`;

export const REMOVE_MEMBER = `mutation RemoveMember($userId: ID!) {
  removeMember(input: { userId: $userId }) {
    __typename
    ... on MemberRemoved { userId }
    ... on MemberNotFound { userId }
    ... on MemberIsManagedByDirectory { userId }
  }
}`;

/** "Alice Anders", or the email when the member has no name. */
export function memberName(member) {
  const name = [member?.firstName, member?.lastName].filter(Boolean).join(' ');
  return name || member?.email || member?.id || '';
}

/** {code, text} for a GraphQL errors array: what went wrong, in words a user can act on. */
export function explainErrors(errors) {
  const first = (errors ?? [])[0] ?? {};
  const code = first.extensions?.code ?? null;
  const message = first.message ?? 'Unknown error';
  if (code === 'FORBIDDEN') {
    return {
      code,
      text:
        `Your role in this organization does not allow this (FORBIDDEN). Managing members ` +
        `needs the ${MANAGE_PERMISSION} permission; ask an admin. WorkOS said: ${message}`,
    };
  }
  if (code === 'UNAUTHENTICATED') {
    return { code, text: `The token was refused (UNAUTHENTICATED): ${message}. Reload the page.` };
  }
  return { code, text: `The Widgets API answered with an error${code ? ` (${code})` : ''}: ${message}` };
}

/** {tone, text} for a mutation's result union, named by its __typename. */
export function explainOutcome(result, member) {
  const who = member ? memberName(member) : result?.userId ?? 'The member';
  switch (result?.__typename) {
    case 'MemberRoleUpdated': {
      const roles = (result.member?.roles ?? []).map((role) => role.name || role.slug).join(', ');
      return { tone: 'info', text: `${memberName(member ?? result.member)} is now ${roles}.` };
    }
    case 'MemberRemoved':
      return { tone: 'info', text: `${who} was removed from the organization.` };
    case 'MemberNotFound':
      return { tone: 'error', text: `${who} is no longer an active member of this organization.` };
    case 'MemberIsManagedByDirectory':
      return { tone: 'error', text: `${who} is managed by a directory and cannot be removed here.` };
    case 'RoleNotFound':
      return { tone: 'error', text: `No such role: ${(result.roleSlugs ?? []).join(', ')}.` };
    default:
      return { tone: 'error', text: `Unexpected answer: ${result?.__typename ?? 'nothing'}.` };
  }
}

/** Wire the members card to a token client; returns {load, reset}. Does nothing without the card. */
export function createMembersTable({
  client,
  root,
  describeFailure = (err) => String(err?.message ?? err),
  isOutage = () => false, // a failure the page's outage notice already tells of
}) {
  if (!root) return { load: async () => {}, reset() {} };
  const byTestId = (id) => root.querySelector(`[data-testid="${id}"]`);
  const ui = {
    rows: byTestId('members-rows'),
    previous: byTestId('members-previous'),
    next: byTestId('members-next'),
    page: byTestId('members-page'),
    status: byTestId('members-status'),
  };
  const state = { cursor: {}, page: 1, meta: {}, seq: 0, busy: false };

  function say(text, tone = 'info', code = null) {
    ui.status.textContent = text;
    ui.status.dataset.tone = tone;
    if (code) ui.status.dataset.code = code;
    else delete ui.status.dataset.code;
  }

  function cell(text, testId) {
    const td = document.createElement('td');
    td.textContent = text;
    if (testId) td.dataset.testid = testId;
    return td;
  }

  function button(text, testId, onClick) {
    const node = document.createElement('button');
    node.type = 'button';
    node.textContent = text;
    node.dataset.testid = testId;
    node.addEventListener('click', onClick);
    return node;
  }

  function row(member, roles) {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'member-row';
    tr.dataset.userId = member.id;
    const current = member.roles?.[0]?.slug ?? '';
    const active = member.status === 'Active';
    const select = document.createElement('select');
    select.dataset.testid = 'member-role';
    select.setAttribute('aria-label', `Role of ${memberName(member)}`);
    // A role the environment no longer lists still shows as the member's current one.
    const known = roles.some((role) => role.slug === current) ? roles : [...roles, { slug: current }];
    select.replaceChildren(
      ...known.map((role) => new Option(role.name || role.slug, role.slug, false, role.slug === current)),
    );
    select.disabled = !active;
    const save = button('Change role', 'member-save-role', () =>
      mutate(UPDATE_MEMBER_ROLE, { userId: member.id, roleSlugs: [select.value] }, 'updateMemberRole', member),
    );
    const remove = button('Remove', 'member-remove', () => {
      // The first click asks; the second removes.
      if (remove.dataset.confirm !== 'true') {
        remove.dataset.confirm = 'true';
        remove.textContent = `Really remove ${memberName(member)}?`;
        return;
      }
      mutate(REMOVE_MEMBER, { userId: member.id }, 'removeMember', member);
    });
    save.disabled = remove.disabled = !active;
    const roleCell = cell('', null);
    roleCell.append(select, ' ', save);
    const actions = cell('', null);
    actions.append(remove);
    tr.append(
      cell(memberName(member), 'member-name'),
      cell(member.email, 'member-email'),
      cell(member.status, 'member-status'),
      roleCell,
      actions,
    );
    return tr;
  }

  function renderMessage(text) {
    const td = cell(text, null);
    td.colSpan = 5;
    const tr = document.createElement('tr');
    tr.append(td);
    ui.rows.replaceChildren(tr);
  }

  function setBusy(busy) {
    state.busy = busy;
    root.setAttribute('aria-busy', String(busy));
    ui.previous.disabled = busy || !state.meta.before;
    ui.next.disabled = busy || !state.meta.after;
    for (const control of ui.rows.querySelectorAll('button, select')) {
      if (busy) control.disabled = true;
    }
  }

  async function load(cursor = state.cursor) {
    const seq = ++state.seq;
    setBusy(true);
    try {
      const result = await client.graphql(MEMBERS_QUERY, { limit: MEMBERS_PAGE_SIZE, ...cursor });
      if (seq !== state.seq) return false;
      if (result.errors?.length) {
        const { code, text } = explainErrors(result.errors);
        renderMessage('The members could not be listed.');
        say(text, 'error', code);
        return false;
      }
      const list = result.data.organizationMemberships;
      if (!list.data.length && (cursor.after || cursor.before)) {
        state.page = 1; // the page emptied (its last member was removed): start over
        return load({});
      }
      state.cursor = cursor;
      state.meta = list.listMetadata;
      const roles = result.data.roles?.roles ?? [];
      if (list.data.length) ui.rows.replaceChildren(...list.data.map((member) => row(member, roles)));
      else renderMessage('No members.');
      return true;
    } catch (err) {
      if (seq !== state.seq || err?.code === 'stopped') return false;
      if (isOutage(err)) {
        // Said once, at the top of the page; the page loads the list again when it recovers.
        renderMessage('The members are listed as soon as the service answers again.');
        say('');
        return false;
      }
      renderMessage('The members could not be listed.');
      say(`Could not reach the Widgets API: ${describeFailure(err)}`, 'error');
      return false;
    } finally {
      if (seq === state.seq) {
        setBusy(false);
        render();
      }
    }
  }

  function render() {
    ui.page.textContent = `Page ${state.page}`;
  }

  async function mutate(query, variables, field, member) {
    if (state.busy) return;
    setBusy(true);
    let outcome = null;
    try {
      const result = await client.graphql(query, variables);
      if (result.errors?.length) {
        const { code, text } = explainErrors(result.errors);
        say(text, 'error', code);
      } else {
        outcome = explainOutcome(result.data?.[field], member);
      }
    } catch (err) {
      say(`Could not reach the Widgets API: ${describeFailure(err)}`, 'error');
    }
    await load();
    if (outcome) say(outcome.text, outcome.tone);
  }

  async function turn(direction) {
    const cursor = direction > 0 ? { after: state.meta.after } : { before: state.meta.before };
    if (await load(cursor)) {
      state.page = Math.max(1, state.page + direction);
      render();
    }
  }

  ui.previous.addEventListener('click', () => turn(-1));
  ui.next.addEventListener('click', () => turn(1));

  /** Back to the first page (after an organization switch). */
  function reset() {
    state.cursor = {};
    state.meta = {};
    state.page = 1;
    say('');
    render();
  }

  return { load, reset };
}
