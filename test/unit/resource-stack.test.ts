/** The start-up/shutdown stack: last opened, first closed; every step runs past a failure; close() once. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceStack } from '../../src/lifecycle/resource-stack.ts';

describe('ResourceStack', () => {
  it('closes in reverse order of registration, past a failing step, and only once', async () => {
    const failures: string[] = [];
    const stack = new ResourceStack((step, err) => failures.push(`${step}: ${err.message}`));
    const closed: string[] = [];
    const conn = stack.use('redis', { name: 'conn' }, (c) => void closed.push(c.name));
    assert.deepEqual(conn, { name: 'conn' });
    stack.defer('pool', () => {
      closed.push('pool');
      throw new Error('pool refused');
    });
    stack.defer('heartbeat', async () => void closed.push('heartbeat'));
    const [a, b] = [stack.close(), stack.close()];
    assert.equal(a, b, 'one close, however often asked');
    await a;
    assert.deepEqual(closed, ['heartbeat', 'pool', 'conn']);
    assert.deepEqual(failures, ['pool: pool refused']);
    assert.ok(stack.closed);
  });

  it('refuses a registration once closing, so nothing opened late is forgotten silently', async () => {
    const stack = new ResourceStack(() => {});
    await stack.close();
    assert.throws(() => stack.defer('late', () => {}), /cannot register "late": the stack is already closing/);
  });
});
