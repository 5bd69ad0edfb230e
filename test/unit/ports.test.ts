import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralLow, freePort } from '../../src/system/ports.ts';

function bind(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(() => new Promise((r) => srv.close(() => r()))));
  });
}

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range, each of which can be bound', async () => {
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
    const low = ephemeralLow();
    for (const p of ports) assert.ok(p >= 10_000 && p < low, `${p} is outside [10000, ${low})`);
    const closers = await Promise.all(ports.map(bind));
    await Promise.all(closers.map((close) => close()));
  });

  it('skips ports in use, and falls back to the kernel once its range is used up', async () => {
    // Four consecutive ports of which this test holds three: the fourth is the only one to hand out.
    let held: Array<() => Promise<void>> = [];
    let low = 0;
    for (let tries = 0; held.length < 3 && tries < 20; tries++) {
      await Promise.all(held.map((close) => close()));
      low = (await freePort()) + 1;
      held = (await Promise.allSettled([low, low + 1, low + 2].map(bind)))
        .filter((r) => r.status === 'fulfilled')
        .map((r) => r.value);
    }
    try {
      assert.equal(held.length, 3, 'no three consecutive free ports found');
      const range = { low, high: low + 4 };
      assert.equal(await freePort(range), low + 3);
      const next = await freePort(range);
      assert.ok(next < low || next >= low + 4, `handed out ${next} again`);
    } finally {
      await Promise.all(held.map((close) => close()));
    }
  });
});

describe('ephemeralLow', () => {
  it("reads the range's first port, and falls back to Linux's default", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ports-test-'));
    try {
      await writeFile(join(dir, 'range'), '40000\t60999\n');
      assert.equal(ephemeralLow(join(dir, 'range')), 40_000);
      await writeFile(join(dir, 'garbage'), 'x y\n');
      assert.equal(ephemeralLow(join(dir, 'garbage')), 32_768);
      assert.equal(ephemeralLow(join(dir, 'missing')), 32_768);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
