/**
 * When the token client tries a failed token fetch again and how long it waits first
 * (docs/reference/browser-client.md), and the waits and requests in flight that stop() must be able to end.
 */

/** True for a failure worth another attempt: no answer (0), 429 or 503. */
export function isTransient(status) {
  return status === 0 || status === 429 || status === 503;
}

/** Whole seconds of a Retry-After header, or null. */
export function parseRetryAfter(value) {
  // Our service sends whole seconds; anything else falls back to exponential back-off.
  return value != null && /^\s*\d+\s*$/.test(value) ? Number(value) : null;
}

/** Milliseconds to wait after attempt `attempt` failed with `failure`, or null: give up. */
export function retryDelay(failure, attempt, { maxAttempts, baseBackoffMs, maxBackoffMs, random }) {
  if (attempt >= maxAttempts || !isTransient(failure.status)) return null;
  if (failure.retryAfter !== null) {
    const waitMs = failure.retryAfter * 1000;
    // Honour Retry-After, never retry earlier; a wait beyond the cap is the caller's to decide.
    if (waitMs > maxBackoffMs) return null;
    return Math.round(waitMs + random() * baseBackoffMs);
  }
  const ceiling = Math.min(maxBackoffMs, baseBackoffMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A client's back-off waits and requests in flight: each request timed out, all ended by cancel(). */
export class Pending {
  #fetch;
  #setTimeout;
  #clearTimeout;
  #timeoutMs;
  #stoppedError;
  #cancelled = false;
  #sleeps = new Set();
  #controllers = new Set();

  constructor({ fetch, setTimeout, clearTimeout, timeoutMs, stoppedError }) {
    this.#fetch = fetch;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
    this.#timeoutMs = timeoutMs;
    this.#stoppedError = stoppedError;
  }

  /** fetch(url, init), aborted after the timeout or by cancel() (then it throws stoppedError()). */
  async request(url, init) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer =
      controller && this.#timeoutMs > 0
        ? this.#setTimeout(() => controller.abort(), this.#timeoutMs)
        : null;
    if (controller) this.#controllers.add(controller);
    try {
      return await this.#fetch(url, controller ? { ...init, signal: controller.signal } : init);
    } catch (err) {
      // An abort by stop() is the client stopping, not the network failing.
      throw this.#cancelled ? this.#stoppedError() : err;
    } finally {
      if (timer !== null) this.#clearTimeout(timer);
      this.#controllers.delete(controller);
    }
  }

  /** Resolves after `ms`; rejects with stoppedError() if cancel() comes first. */
  sleep(ms) {
    return new Promise((resolve, reject) => {
      const sleep = { reject, id: null };
      sleep.id = this.#setTimeout(() => {
        this.#sleeps.delete(sleep);
        resolve();
      }, ms);
      this.#sleeps.add(sleep);
    });
  }

  /** End every wait (rejected) and every request (aborted), for good. */
  cancel() {
    this.#cancelled = true;
    for (const sleep of this.#sleeps) {
      this.#clearTimeout(sleep.id);
      sleep.reject(this.#stoppedError());
    }
    this.#sleeps.clear();
    for (const controller of this.#controllers) controller.abort();
  }
}
