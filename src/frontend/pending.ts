/**
 * Requests this front end has queued and is waiting on: request id → waiter. Their deadlines share one timer
 * (DeadlineQueue) instead of one each. A result settles its waiter once; a result for an unknown id (answered
 * already, timed out, client gone) is dropped without error.
 */
import type { Result } from '../wire/envelope.ts';
import { DeadlineQueue, type Deadline } from '../system/deadline-queue.ts';

export type Outcome = { kind: 'result'; result: Result } | { kind: 'deadline' } | { kind: 'gone' };

class Waiter implements Deadline {
  queueIndex = -1;
  constructor(
    readonly id: string,
    readonly at: number,
    readonly settle: (outcome: Outcome) => void,
    private readonly owner: PendingRequests,
  ) {}

  expire(): void {
    this.owner.settle(this.id, DEADLINE);
  }
}

const DEADLINE: Outcome = { kind: 'deadline' };

export class PendingRequests {
  private readonly waiters = new Map<string, Waiter>();
  private readonly deadlines = new DeadlineQueue();
  private emptyWaiters: Array<() => void> = [];
  private lastId = 0;

  get size(): number {
    return this.waiters.size;
  }

  /**
   * A new request id: a counter, as results come back on this front end's own reply stream (its name is new at
   * every start) and are matched only here, so it need only differ from every other id of this process.
   */
  newId(): string {
    return (++this.lastId).toString(36);
  }

  /** Registers a request; `settle` runs exactly once, with the result, the deadline, or the client gone. */
  add(id: string, deadline: number, settle: (outcome: Outcome) => void): void {
    const waiter = new Waiter(id, deadline, settle, this);
    this.waiters.set(id, waiter);
    this.deadlines.add(waiter);
  }

  /** Returns false for ids nobody waits on. */
  settle(id: string, outcome: Outcome): boolean {
    const w = this.waiters.get(id);
    if (!w) return false;
    this.waiters.delete(id);
    this.deadlines.remove(w);
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
