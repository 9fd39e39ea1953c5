// Runs a function once per key after a quiet period, so a burst of saves validates once. No `vscode` import.

export class Debouncer<K> {
  private readonly timers = new Map<K, NodeJS.Timeout>();

  constructor(
    private readonly delayMs: () => number,
    private readonly fn: (key: K) => void,
  ) {}

  /** (Re)starts the wait for `key`; `fn(key)` runs when no trigger for it came for the delay. */
  trigger(key: K): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.fn(key);
      }, Math.max(0, this.delayMs())),
    );
  }

  dispose(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
  }
}
