/**
 * How many times an image is copied between the sockets and the decoder (issue 22), shown on the real parts:
 * each process copies it once, from its socket into one buffer, and never again.
 *
 *   front end  socket chunks → the body buffer (collectBody: the one copy); the multipart image is a view of the
 *              body; admission writes that very memory to the Redis socket, on every shard it tries
 *   host       Redis socket → the reply decoder's buffer (the one copy); the decode worker gets that buffer
 *              moved (transferred), not cloned; an image that is a view into a larger buffer is copied once,
 *              exactly its own bytes, never the buffer around it
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { admitRequest } from '../../src/frontend/admission.ts';
import { extractImages } from '../../src/frontend/image-input.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import { ownedBytes, PreprocessPool } from '../../src/host/preprocess-pool.ts';
import { imageElements, readMetadata } from '../../src/model/metadata.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { connectRedis, whenReady } from '../../src/redis/connect.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { decodeRequest, encodeRequest } from '../../src/wire/envelope.ts';
import { CONSUMER_GROUP, keysFor } from '../../src/wire/keys.ts';
import { EXAMPLES } from '../../scripts/lib/in-process-service.ts';

const log = createLogger('test', 'silent');

/** Whether two byte ranges are the same memory (not equal bytes: the same bytes). */
const sameMemory = (a: Uint8Array, b: Uint8Array) =>
  a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength;

describe('copies of an image from socket to decoder', () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  let photo: Buffer;
  before(async () => {
    redis = await startEmbeddedRedis();
    client = connectRedis(redis.url, 'copy-count', log);
    await whenReady(client);
    photo = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('front end: the multipart image is a view of the body, and that memory is what goes to each shard', async () => {
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n`),
      photo,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const input = await extractImages(body, `multipart/form-data; boundary=${boundary}`, { maxImages: 1, maxParts: 2 });
    assert.ok(input.ok && input.images[0]?.ok);
    const image = input.images[0].image;
    assert.equal(image.buffer, body.buffer, 'the image is a range of the body, not a copy of it');

    // Two shards, the first one full: admission writes the entry to shard 0, is refused, and writes it to shard 1.
    const keys = keysFor('copies', 2);
    for (const shard of [...keys.shards, ...keysFor('copies-warm').shards])
      await client.zadd(shard.liveHosts, Date.now() + 60_000, 'a-host');
    const bounds = { MAX_QUEUE: 2, MAX_QUEUE_BYTES: 64 * 1024 * 1024, HOST_RESTART_GRACE_MS: 0 }; // one entry per shard
    const entry = encodeRequest({ id: 'r', topk: 1, deadline: 0, replyTo: 'x', image });
    // Once before counting: the first call on a server sends EVAL after EVALSHA's NOSCRIPT (the image twice).
    assert.equal(await admitRequest(client, keysFor('copies-warm'), bounds, entry), 'queued');
    await client.xadd(keys.shards[0]!.requests, '*', 'meta', 'x'); // shard 0 now holds its share
    const written: Uint8Array[] = [];
    const socket = client.stream;
    const write = socket.write;
    socket.write = function (this: typeof socket, chunk: unknown, ...rest: unknown[]) {
      if (chunk instanceof Uint8Array) written.push(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof socket.write;
    let outcome: string;
    try {
      outcome = await admitRequest(client, keys, bounds, entry);
    } finally {
      socket.write = write;
    }
    assert.equal(outcome, 'queued');
    const large = written.filter((chunk) => chunk.byteLength >= image.byteLength);
    assert.equal(large.length, 2, `one write of the image per shard tried (${written.length} writes)`);
    for (const chunk of large) assert.ok(sameMemory(chunk, image), 'the socket was handed the body memory itself');
    const [[, fields]] = (await client.xrangeBuffer(keys.shards[1]!.requests, '-', '+')) as [[Buffer, Buffer[]]];
    assert.ok(photo.equals(decodeRequest(fields)!.image!), 'Redis holds the image bytes');
  });

  it('host: the reply buffer is moved to the decode worker, and only a view into a larger buffer is copied', async () => {
    const keys = keysFor('copies-host');
    const stream = keys.requests;
    await client.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM');
    const entry = encodeRequest({ id: 'r', topk: 1, deadline: Date.now() + 60_000, replyTo: 'x', image: photo });
    await client.xadd(stream, '*', 'meta', entry.meta, entry.field, photo);
    const reply = (await client.xreadgroupBuffer('GROUP', CONSUMER_GROUP, 'h', 'STREAMS', stream, '>')) as Array<
      [Buffer, Array<[Buffer, Buffer[]]>]
    >;
    const image = decodeRequest(reply[0]![1][0]![1])!.image!;
    // chelsea.png (about 240 KB) spans several socket reads, so the decoder joined it: the host's one copy.
    assert.ok(image.byteLength > 64 * 1024, 'the photo is larger than one socket read');
    assert.equal(image.buffer.byteLength, image.byteLength, 'the reply buffer holds exactly the image');
    assert.equal(ownedBytes(image), image, 'an image that owns its buffer is passed on as it is');

    const meta = await readMetadata(resolve('models/default'));
    const buffers = new BatchBuffers({ maxBatch: 1, slotElements: imageElements(meta), count: 1 });
    const pool = new PreprocessPool(
      { threads: 1, slotsPerBuffer: 1, decodeTimeoutMs: 10_000 },
      {
        buffers: buffers.buffers,
        input: meta.input,
        preprocessing: meta.preprocessing,
        settings: { maxInputPixels: 40_000_000, maxJpegScans: 1000, jpegDctScaling: false },
      },
    );
    try {
      const outcome = await pool.run({ image, buffer: 0, slot: 0, deadline: Date.now() + 60_000 });
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.equal(image.byteLength, 0, 'the buffer was transferred to the worker (detached here), not cloned');
      assert.ok(
        new Float32Array(buffers.buffers[0]!).some((v) => v !== 0),
        'and the worker decoded it into its slot',
      );
    } finally {
      await pool.close();
    }

    // A small entry arrives inside one socket read: its image is a view into that read's buffer.
    const read = Buffer.alloc(64 * 1024, 1);
    const view = read.subarray(1000, 3000);
    const own = ownedBytes(view);
    assert.notEqual(own.buffer, read.buffer, 'the view is copied, so the read buffer stays whole for the others');
    assert.equal(own.buffer.byteLength, view.byteLength, 'the copy is exactly the image, not the buffer around it');
    assert.ok(Buffer.from(own).equals(view));
  });
});
