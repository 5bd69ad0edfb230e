/**
 * Requests this front end has queued and is waiting on: request id → waiter, each with its deadline timer.
 * A result settles its waiter once; a result for an unknown id (answered already, timed out, client gone) is
 * dropped without error.
 */
import type { Result } from '../wire/envelope.ts';

export type Outcome = { kind: 'result'; result: Result } | { kind: 'deadline' } | { kind: 'gone' };

interface Waiter {
  settle(outcome: Outcome): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests {
  private readonly waiters = new Map<string, Waiter>();
  private emptyWaiters: Array<() => void> = [];

  get size(): number {
    return this.waiters.size;
  }

  /** Registers a request; `settle` runs exactly once, with the result, the deadline, or the client gone. */
  add(id: string, deadline: number, settle: (outcome: Outcome) => void): void {
    const timer = setTimeout(() => this.settle(id, { kind: 'deadline' }), Math.max(0, deadline - Date.now()));
    this.waiters.set(id, { settle, timer });
  }

  /** Returns false for ids nobody waits on. */
  settle(id: string, outcome: Outcome): boolean {
    const w = this.waiters.get(id);
    if (!w) return false;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    w.settle(outcome);
    if (this.waiters.size === 0) this.notifyEmpty();
    return true;
  }

  /** Resolves when nothing is pending (used while draining). */
  whenEmpty(): Promise<void> {
    if (this.waiters.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  private notifyEmpty(): void {
    const ws = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of ws) w();
  }
}
