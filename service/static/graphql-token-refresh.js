/**
 * The timer of the token client's proactive refresh, held back while the page is hidden: nobody
 * looks at a hidden page, so an idle tab costs nothing and catches up when it is shown.
 */

/** One refresh timer; `refresh()` runs when it fires on a shown page, or when a hidden one is shown. */
export class RefreshTimer {
  #document;
  #setTimeout;
  #clearTimeout;
  #refresh;
  #active;
  #timer = null;
  #whenVisible = false; // the timer fired while the page was hidden
  #onVisibility = () => this.#visibilityChanged();

  /** `document`: undefined for the page's, null for none; `active()`: whether a late refresh still runs. */
  constructor({ document, setTimeout, clearTimeout, refresh, active }) {
    this.#document = document === undefined ? (globalThis.document ?? null) : document;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
    this.#refresh = refresh;
    this.#active = active;
    if (typeof this.#document?.addEventListener === 'function') {
      this.#document.addEventListener('visibilitychange', this.#onVisibility);
    }
  }

  /** True while the timer is set. */
  get armed() {
    return this.#timer !== null;
  }

  /** Fire after `delay` ms, replacing any timer set before. */
  arm(delay) {
    this.cancel();
    this.#timer = this.#setTimeout(() => {
      this.#timer = null;
      if (this.#hidden()) this.#whenVisible = true;
      else this.#refresh();
    }, delay);
  }

  /** Clear the timer, and a refresh waiting for the page to be shown. */
  cancel() {
    if (this.#timer !== null) this.#clearTimeout(this.#timer);
    this.#timer = null;
    this.#whenVisible = false;
  }

  /** Stop listening to the page. */
  close() {
    this.#document?.removeEventListener?.('visibilitychange', this.#onVisibility);
  }

  #hidden() {
    return this.#document?.visibilityState === 'hidden';
  }

  #visibilityChanged() {
    if (this.#hidden() || !this.#whenVisible) return;
    this.#whenVisible = false;
    if (this.#active()) this.#refresh();
  }
}
