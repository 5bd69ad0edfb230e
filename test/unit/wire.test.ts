import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { packEnvelope, unpackEnvelope, packResult, unpackResult, WIRE_VERSION } from '../../src/wire/envelope.ts';
import { errorCodes, errorBody, isErrorCode } from '../../src/wire/errors.ts';
import { CLUSTER_SLOTS, keysFor, modelKeys, slotOf } from '../../src/wire/keys.ts';

describe('wire format', () => {
  it('round-trips an envelope with binary image bytes', () => {
    const env = {
      v: WIRE_VERSION,
      id: 'abc',
      image: new Uint8Array([0, 255, 1, 2]),
      topk: 3,
      deadline: 123,
      replyTo: 'r',
    } as const;
    const back = unpackEnvelope(packEnvelope(env));
    assert.ok(back);
    assert.deepEqual(Array.from(back.image ?? []), [0, 255, 1, 2]);
    assert.equal(back.topk, 3);
  });

  it('rejects malformed envelopes instead of throwing', () => {
    assert.equal(unpackEnvelope(Buffer.from('not msgpack at all')), undefined);
    assert.equal(unpackEnvelope(packResult({ id: 'x', ok: true, predictions: [] })), undefined);
    assert.equal(unpackEnvelope(Buffer.alloc(0)), undefined);
  });

  it('round-trips results', () => {
    const r = unpackResult(packResult({ id: 'x', ok: false, code: 'INVALID_IMAGE', message: 'm' }));
    assert.deepEqual(r, { id: 'x', ok: false, code: 'INVALID_IMAGE', message: 'm' });
    assert.equal(unpackResult(Buffer.from([0xc1])), undefined);
  });

  it('with one shard, keeps the request stream, registry and host info in the prefix slot', () => {
    const k = keysFor('cls');
    for (const key of [k.requests, k.registry, k.hostInfo('h'), k.shards[0]!.liveHosts])
      assert.ok(key.startsWith('{cls}:'), key);
    assert.equal(k.shards.length, 1);
  });

  it('puts each front end reply stream in that front end own slot', () => {
    const k = keysFor('cls');
    assert.equal(k.replies('fe-1'), '{cls:fe:fe-1}:reply');
    assert.notEqual(slotOf(k.replies('fe-1')), slotOf(k.replies('fe-2')));
  });

  it('spreads S shards over S equal parts of the slot space, so each lands on its own primary', () => {
    for (const prefix of ['cls', 'prod', 'a.b-c']) {
      for (const shards of [2, 3, 4, 6, 16]) {
        const k = keysFor(prefix, shards);
        assert.equal(k.shards[0]!.requests, `{${prefix}}:requests`, 'shard 0 keeps the classic key');
        const parts = k.shards.map((s) => Math.floor((slotOf(s.requests) * shards) / CLUSTER_SLOTS));
        assert.equal(new Set(parts).size, shards, `${prefix} × ${shards}: ${parts}`);
        for (const s of k.shards) assert.equal(slotOf(s.requests), slotOf(s.liveHosts), 'admission keys share a slot');
      }
    }
  });

  it("gives each model its own request stream and live-host set in every shard, in that shard's slot", () => {
    const k = keysFor('cls', 3);
    const a = modelKeys(k, 'a');
    const b = modelKeys(k, 'b');
    assert.equal(a.shards.length, 3);
    a.shards.forEach((s, i) => {
      assert.equal(s.requests, `${k.shards[i]!.requests}:a`);
      assert.notEqual(s.requests, b.shards[i]!.requests);
      assert.equal(slotOf(s.requests), slotOf(k.shards[i]!.requests), 'same slot as the shard');
      assert.equal(slotOf(s.liveHosts), slotOf(s.requests), 'admission keys share a slot');
    });
    assert.equal(a.registry, k.registry, 'one registry of hosts');
  });
});

describe('error registry', () => {
  it('maps every code to a 4xx/5xx status and a message; codes are unique strings', () => {
    const codes = Object.keys(errorCodes);
    assert.equal(new Set(codes).size, codes.length);
    for (const [code, { status, message }] of Object.entries(errorCodes)) {
      assert.match(code, /^[A-Z_]+$/);
      assert.ok(status >= 400 && status < 600, code);
      assert.ok(message.length > 0, code);
      assert.ok(isErrorCode(code));
    }
    assert.equal(isErrorCode('toString'), false);
    assert.deepEqual(errorBody('NOT_FOUND'), {
      success: false,
      error: { code: 'NOT_FOUND', message: errorCodes.NOT_FOUND.message },
    });
  });

  it('documents every code in the README', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(errorCodes)) assert.ok(readme.includes(`\`${code}\``), `README lacks ${code}`);
  });
});
