/**
 * Sharing one token among the open tabs of an origin: a Web Lock lets one tab at a time fetch,
 * and a BroadcastChannel tells the others what it got (docs/reference/browser-client.md).
 *
 * Messages: {type: "fetching"}, {type: "fetch-failed"}, {type: "reset"}, {type: "signedout"},
 * {type: "token", token, expiresIn, organizationId, sentAt}.
 */

// The default share: Client API tokens. Clients of widget tokens share under names of their own
// (one per set of scopes), so a tab never adopts another kind of token.
const SHARE_NAME = 'graphql-token';
// A message between tabs takes milliseconds; anything beyond this is a clock jump, not transit.
const MAX_TRANSIT_MS = 5000;
// A tab granted the fetch lock right after another tab's fetch may get the lock before that
// tab's token message; when a peer said it was fetching, wait this long for its token.
const HANDOFF_MS = 500;
// A peer's "fetching" older than this is stale (its tab closed or its fetch hung).
const PEER_FETCH_MAX_MS = 15000;

function defaultChannel(name) {
  return typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
}

/** This tab's end of the sharing: the lock, the channel, and what the other tabs are doing. */
export class TabShare {
  #channel;
  #locks;
  #lockName;
  #now;
  #dateNow;
  #setTimeout;
  #deliver;
  #closed = false;
  #peerFetchingAt = null;
  #peerWaiters = [];
  #onMessage = (event) => this.#receive(event?.data);

  /**
   * `name`: the channel's (and, with `-fetch`, the lock's); `channel`, `locks`: undefined for
   * the browser's, null for none; `deliver(message)` gets the rest.
   */
  constructor({ name = SHARE_NAME, channel, locks, now, dateNow, setTimeout, deliver }) {
    this.#channel = channel === undefined ? defaultChannel(name) : channel;
    this.#lockName = `${name}-fetch`;
    this.#locks = locks === undefined ? (globalThis.navigator?.locks ?? null) : locks;
    this.#now = now;
    this.#dateNow = dateNow;
    this.#setTimeout = setTimeout;
    this.#deliver = deliver;
    this.#channel?.addEventListener('message', this.#onMessage);
  }

  /** Run `work` holding the fetch lock (other tabs' fetches wait), or without where none exists. */
  async withLock(work) {
    if (!this.#locks) return work();
    let granted = false;
    try {
      return await this.#locks.request(this.#lockName, () => {
        granted = true;
        return work();
      });
    } catch (err) {
      // A lock manager that refuses (e.g. an opaque origin) must not stop the fetch itself.
      if (granted) throw err;
      return work();
    }
  }

  /** True while another tab said it is fetching, lately enough to be believed. */
  peerFetching() {
    return this.#peerFetchingAt !== null && this.#now() - this.#peerFetchingAt < PEER_FETCH_MAX_MS;
  }

  /** Resolves when the fetching tab sends its token or its failure, or after a short while. */
  peerToken() {
    return new Promise((resolve) => {
      this.#peerWaiters.push(resolve);
      this.#setTimeout(resolve, HANDOFF_MS);
    });
  }

  /** Tell the other tabs about a token this tab fetched (seconds left, not a deadline). */
  shareToken(token, expiresIn, organizationId) {
    this.post({ type: 'token', token, expiresIn, organizationId, sentAt: this.#dateNow() });
  }

  /** The lifetime left of a token another tab sent, in ms on this tab's clock. */
  lifetimeOf(message) {
    // Tabs' performance.now() origins differ, so the sender sends seconds left, not a deadline.
    const transit = Number.isFinite(message.sentAt) ? this.#dateNow() - message.sentAt : 0;
    return message.expiresIn * 1000 - Math.min(Math.max(transit, 0), MAX_TRANSIT_MS);
  }

  /** Send `message` to the other tabs. */
  post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed or broken channel only costs other tabs a fetch of their own.
    }
  }

  /** Stop listening and close the channel. */
  close() {
    this.#closed = true;
    this.#channel?.removeEventListener('message', this.#onMessage);
    this.#channel?.close?.();
    this.#channel = null;
  }

  #receive(message) {
    if (this.#closed || !message || typeof message !== 'object') return;
    if (message.type === 'fetching') {
      this.#peerFetchingAt = this.#now();
    } else if (message.type === 'fetch-failed') {
      this.#peerDone();
    } else {
      // Waiters resume in a microtask, after the client has adopted the token.
      if (message.type === 'token') this.#peerDone();
      this.#deliver(message);
    }
  }

  #peerDone() {
    this.#peerFetchingAt = null;
    const waiters = this.#peerWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }
}
