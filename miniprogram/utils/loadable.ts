/**
 * The load → failed → retry skeleton every page that opens on a server call shares (a WeChat
 * `Behavior`): `step` starts at 'loading', `attached` runs the page's `load()`, a failure shows
 * `failMessage` with a retry button bound to `onRetry`, which shows the spinner and loads again.
 *
 * A page defines its own `load()` (a page's method overrides a behavior's of the same name) and its
 * own `step` type; lifetimes do not override, the behavior's `attached` runs before the page's.
 */
export const loadable = Behavior({
  data: {
    step: 'loading' as string,
    failMessage: '',
  },
  lifetimes: {
    attached() {
      void this.load();
    },
  },
  methods: {
    /** The page's own loading; a page using this behavior defines it. */
    load(): Promise<void> {
      return Promise.reject(new Error('a page with the loadable behavior defines load()'));
    },
    /** Back to the spinner, then the page's `load()` again. */
    reload(): Promise<void> {
      this.setData({ step: 'loading', failMessage: '' });
      return this.load();
    },
    onRetry(): Promise<void> {
      return this.reload();
    },
    /** The loading failed: the page shows `message` and its retry button. */
    loadFailed(message: string): void {
      this.setData({ step: 'failed', failMessage: message });
    },
  },
});
