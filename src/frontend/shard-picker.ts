/**
 * The order in which a front end tries the request shards for one request: round robin from a rotating start,
 * with shards that failed in the last COOLDOWN_MS moved to the end (still tried, so a healed shard is found).
 * Round robin rather than least-queued: every host reads every shard, so shards drain at the same pace and even
 * spreading keeps them equal; least-queued would need each shard's length (a round trip per shard, or stale).
 */
const COOLDOWN_MS = 1000;

export class ShardPicker {
  private next = 0;
  private readonly failedAt: number[];

  constructor(private readonly shards: number) {
    this.failedAt = new Array<number>(shards).fill(0);
  }

  order(now = Date.now()): number[] {
    const start = this.next;
    this.next = (this.next + 1) % this.shards;
    const healthy: number[] = [];
    const cooling: number[] = [];
    for (let i = 0; i < this.shards; i++) {
      const index = (start + i) % this.shards;
      (now - this.failedAt[index]! < COOLDOWN_MS ? cooling : healthy).push(index);
    }
    return healthy.concat(cooling);
  }

  failed(index: number, now = Date.now()): void {
    this.failedAt[index] = now;
  }

  succeeded(index: number): void {
    this.failedAt[index] = 0;
  }
}
