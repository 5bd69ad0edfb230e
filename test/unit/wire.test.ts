import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Packr } from 'msgpackr';
import { decodeRequest, encodeRequest, packResult, unpackResult, type RequestEntry } from '../../src/wire/envelope.ts';
import { errorCodes, errorBody, isErrorCode } from '../../src/wire/errors.ts';
import { CLUSTER_SLOTS, keysFor, modelKeys, REQUEST_FIELDS, slotOf } from '../../src/wire/keys.ts';

describe('wire format', () => {
  const meta = { id: 'abc', topk: 3, deadline: 123, replyTo: 'r' };
  /** The fields as XREADGROUP returns them: name, value, name, value. */
  const asRead = (e: RequestEntry) => [
    Buffer.from(REQUEST_FIELDS.meta),
    e.meta,
    Buffer.from(e.field),
    Buffer.from(e.bytes),
  ];

  it('keeps the image bytes out of the msgpack part, as their own field, both ways without copying them', () => {
    const image = Buffer.from([0, 255, 1, 2]);
    const entry = encodeRequest({ ...meta, image });
    assert.equal(entry.field, 'image');
    assert.equal(entry.bytes, image, "the entry carries the caller's bytes, not a copy");
    assert.ok(entry.meta.byteLength < 64, `meta part is small: ${entry.meta.byteLength} bytes`);
    assert.equal(entry.meta.indexOf(Buffer.from([0, 255, 1, 2])), -1, 'the bytes are not inside the meta part');
    const fields = asRead(entry);
    const back = decodeRequest(fields);
    assert.ok(back);
    assert.equal(back.image, fields[3], "the decoded image is the field's own buffer");
    assert.deepEqual({ ...back, image: undefined }, { ...meta, image: undefined });
  });

  it('carries a tensor in its own field, and the optional trace context and scores flag in the meta part', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const tracestate = 'vendor=abc,other=1';
    const entry = encodeRequest({ ...meta, scores: true, traceparent, tracestate, tensor: new Uint8Array(8) });
    assert.equal(entry.field, 'tensor');
    const back = decodeRequest(asRead(entry));
    assert.equal(back?.tensor?.byteLength, 8);
    assert.equal(back?.image, undefined);
    assert.equal(back?.traceparent, traceparent);
    assert.equal(back?.tracestate, tracestate);
    assert.equal(back?.scores, true);
    const noTrace = decodeRequest(asRead(encodeRequest({ ...meta, image: new Uint8Array(1) })));
    assert.ok(noTrace && !('traceparent' in noTrace));
  });

  it('reads a version 1 entry (the bytes inside one msgpack envelope), so hosts can be upgraded before front ends', () => {
    const legacy = new Packr({ useRecords: false }).pack({ v: 1, ...meta, image: new Uint8Array([9, 8]) });
    const back = decodeRequest([Buffer.from('m'), legacy]);
    assert.deepEqual(Array.from(back?.image ?? []), [9, 8]);
    assert.equal(back?.id, 'abc');
  });

  it('rejects malformed entries instead of throwing', () => {
    const good = asRead(encodeRequest({ ...meta, image: new Uint8Array(1) }));
    const bad: Buffer[][] = [
      [],
      [Buffer.from('meta'), Buffer.from('not msgpack at all'), Buffer.from('image'), Buffer.alloc(1)],
      [Buffer.from('meta'), packResult({ id: 'x', ok: true, predictions: [] }), Buffer.from('image'), Buffer.alloc(1)],
      good.slice(0, 2), // no bytes
      [...good, Buffer.from('tensor'), Buffer.alloc(4)], // both an image and a tensor
      [Buffer.from('m'), Buffer.alloc(0)],
      [
        Buffer.from('meta'),
        new Packr({ useRecords: false }).pack({ ...meta, v: 3 }),
        Buffer.from('image'),
        Buffer.alloc(1),
      ],
    ];
    for (const fields of bad) assert.equal(decodeRequest(fields), undefined);
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

  it('documents every code in docs/api.md', async () => {
    const doc = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
    for (const code of Object.keys(errorCodes)) assert.ok(doc.includes(`\`${code}\``), `docs/api.md lacks ${code}`);
  });
});
