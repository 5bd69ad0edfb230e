/**
 * What a process (or a part of one) has opened, in the order it opened it: each resource's close is registered
 * the moment the resource exists, and close() runs them last-first, like Node 24's AsyncDisposableStack (we run
 * on Node 20 too). A start-up that fails half way closes the stack and so releases exactly what it had opened.
 * close() is idempotent and keeps going past a failing step (runSteps).
 */
import { runSteps } from './steps.ts';

export class ResourceStack {
  private readonly closers: Array<readonly [name: string, close: () => unknown]> = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly onFailure: (step: string, err: Error) => void) {}

  /** Registers `close` for `value` (opened just before) and returns `value`. */
  use<T>(name: string, value: T, close: (value: T) => unknown): T {
    this.defer(name, () => close(value));
    return value;
  }

  /** Registers a clean-up step; it runs before everything registered earlier. */
  defer(name: string, close: () => unknown): void {
    if (this.closing) throw new Error(`cannot register "${name}": the stack is already closing`);
    this.closers.push([name, close]);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Runs every registered close, last registered first; the same promise on every call. */
  close(): Promise<void> {
    this.closing ??= runSteps([...this.closers].reverse(), this.onFailure);
    return this.closing;
  }
}
