/**
 * Many deadlines, one timer: entries in a binary min-heap by time, and a single timer armed for the earliest.
 * Entries are the callers' own objects (no allocation per deadline), removed at once when settled otherwise (so
 * nothing lingers until its time, and a settled request's entry dies young). The timer is re-armed only when an
 * earlier deadline arrives or after it fires, not on every removal: when the earliest entry is removed, the
 * timer fires at the old time, finds nothing due and re-arms for the new earliest.
 */

export interface Deadline {
  /** Epoch ms at which `expire` runs, unless removed first. Fixed while queued. */
  at: number;
  /** Position in the queue's heap, -1 when not queued (kept by the queue). */
  queueIndex: number;
  expire(): void;
}

export class DeadlineQueue {
  private readonly heap: Deadline[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.heap.length;
  }

  add(d: Deadline): void {
    d.queueIndex = this.heap.push(d) - 1;
    this.up(d.queueIndex);
    if (d.at < this.armedAt) this.arm(d.at);
  }

  /** Removes an entry that has not expired; a no-op for one that is not queued. */
  remove(d: Deadline): void {
    const i = d.queueIndex;
    if (i < 0 || this.heap[i] !== d) return;
    d.queueIndex = -1;
    const last = this.heap.pop()!;
    if (last === d) return;
    this.heap[i] = last;
    last.queueIndex = i;
    this.down(i);
    this.up(last.queueIndex);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - Date.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const d = this.heap[0]!;
      this.remove(d);
      d.expire();
    }
    if (this.heap.length > 0 && this.heap[0]!.at < this.armedAt) this.arm(this.heap[0]!.at);
  }

  private up(i: number): void {
    const h = this.heap;
    const d = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= d.at) break;
      h[i] = h[parent]!;
      h[i]!.queueIndex = i;
      i = parent;
    }
    h[i] = d;
    d.queueIndex = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const d = h[i]!;
    const n = h.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && h[child + 1]!.at < h[child]!.at) child++;
      if (h[child]!.at >= d.at) break;
      h[i] = h[child]!;
      h[i]!.queueIndex = i;
      i = child;
    }
    h[i] = d;
    d.queueIndex = i;
  }
}
