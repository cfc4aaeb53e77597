/**
 * The token the client holds and how long it is still served, timed from receipt on this tab's
 * own clocks (never from the server's `expires_at`: the page's wall clock may be off).
 */

// A token the server handed over this recently is what it would hand over again.
const RECONFIRM_MS = 5000;

/** A token in hand: `lifetimeMs` from now, on `clock` ({now: monotonic ms, dateNow: wall ms}). */
export class HeldToken {
  #clock;
  #lifetimeMs;
  #received;
  #confirmed;

  constructor(token, lifetimeMs, clock) {
    this.token = token;
    this.#clock = clock;
    this.#lifetimeMs = lifetimeMs;
    this.#received = this.#stamp();
    this.#confirmed = this.#stamp();
  }

  /** Milliseconds of lifetime left. */
  remainingMs() {
    return this.#lifetimeMs - this.#age(this.#received);
  }

  /** True while it may be handed out to a caller that needs `minRemainingMs` of it. */
  servable(minRemainingMs) {
    const remaining = this.remainingMs();
    if (remaining > minRemainingMs) return true;
    // When the server's margin is not below ours it keeps handing back the same token near the
    // boundary; within a few seconds of it doing so, asking again would only cost a request.
    return remaining > 0 && this.#age(this.#confirmed) < RECONFIRM_MS;
  }

  /** The server just handed this same token over again (to another tab). */
  confirm() {
    this.#confirmed = this.#stamp();
  }

  #stamp() {
    return { monotonic: this.#clock.now(), wall: this.#clock.dateNow() };
  }

  #age(stamp) {
    // performance.now() may not advance while the machine sleeps; the wall clock does. Time has
    // passed as soon as either clock says so (only this tab's own readings are compared).
    return Math.max(this.#clock.now() - stamp.monotonic, this.#clock.dateNow() - stamp.wall);
  }
}
