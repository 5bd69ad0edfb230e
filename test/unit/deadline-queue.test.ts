/** One timer for many deadlines (src/system/deadline-queue.ts): order, removal, and re-arming for an earlier one. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue, type Deadline } from '../../src/system/deadline-queue.ts';

function entry(at: number, fired: Deadline[]): Deadline {
  const d: Deadline = { at, queueIndex: -1, expire: () => fired.push(d) };
  return d;
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('DeadlineQueue', () => {
  it('expires every due entry in deadline order, and never one that was removed', async () => {
    const q = new DeadlineQueue();
    const fired: Deadline[] = [];
    const now = Date.now();
    // Due already, in random order; a random half removed before the timer runs.
    const all = Array.from({ length: 500 }, () => entry(now - Math.floor(Math.random() * 10_000), fired));
    for (const d of all) q.add(d);
    const removed = new Set(all.filter(() => Math.random() < 0.5));
    for (const d of removed) q.remove(d);
    for (const d of removed) q.remove(d); // twice: a no-op
    await until(() => q.size === 0);
    assert.equal(fired.length, all.length - removed.size);
    assert.ok(
      fired.every((d) => !removed.has(d)),
      'a removed entry fired',
    );
    for (let i = 1; i < fired.length; i++) assert.ok(fired[i - 1]!.at <= fired[i]!.at, 'out of order');
    assert.ok(fired.every((d) => d.queueIndex === -1));
  });

  it('fires an earlier deadline added after a later one, and not the later one', async () => {
    const q = new DeadlineQueue();
    const fired: Deadline[] = [];
    const late = entry(Date.now() + 60_000, fired);
    const soon = entry(Date.now() + 30, fired);
    q.add(late);
    q.add(soon);
    await until(() => fired.length === 1);
    assert.equal(fired[0], soon);
    assert.equal(q.size, 1);
    q.remove(late);
    assert.equal(q.size, 0);
  });

  it('re-arms for the next entry when the earliest was removed before its time', async () => {
    const q = new DeadlineQueue();
    const fired: Deadline[] = [];
    const first = entry(Date.now() + 20, fired);
    const second = entry(Date.now() + 60, fired);
    q.add(first);
    q.add(second);
    q.remove(first);
    await until(() => fired.length === 1);
    assert.deepEqual(fired, [second]);
  });
});
