/**
 * The container image end to end (npm run test:image; IMAGE_TEST=1): `npm run image:build` (cached steps), then
 *   - one `podman run` (role all, private Redis inside) answers /readyz, /predict, /v2, gRPC and its health check;
 *   - the Kubernetes manifests played by `podman kube play` (kube-play.ts says what differs) serve a request
 *     through a front-end pod, a model-host pod and the Redis pod.
 * Every container, pod and volume it makes has a name unique to the run and is removed even when a test fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, type ImageBuild } from '../../scripts/image/build.ts';
import { IMAGE_NAME, podman } from '../../scripts/image/podman.ts';
import { PROJECT_DIR } from '../../src/build/layout.ts';
import { freePort } from '../../src/system/ports.ts';
import { playable } from '../../scripts/image/kube-play.ts';
import { InferenceClient } from '../helpers/grpc-client.ts';

const skip = process.env.IMAGE_TEST === '1' ? false : 'builds and runs the image: npm run test:image (IMAGE_TEST=1)';
const suffix = `t${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
const chelsea = readFileSync(join(PROJECT_DIR, 'examples', 'chelsea.png'));

async function waitReady(url: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    );
    if (status === 200) return performance.now() - started;
    if (performance.now() - started > timeoutMs)
      throw new Error(`${url} not ready after ${timeoutMs} ms (last ${status})`);
    await sleep(200);
  }
}

async function classify(base: string): Promise<{ status: number; body: { predictions: Array<{ label: string }> } }> {
  const form = new FormData();
  form.append('image', new Blob([chelsea], { type: 'image/png' }), 'chelsea.png');
  const res = await fetch(`${base}/predict`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

const podmanQuiet = (args: string[]) => podman(args).catch(() => '');

describe('the container image', { skip }, () => {
  let build: ImageBuild;
  const name = `cls-${suffix}`;
  let base: string;
  let grpcAddress: string;
  let readyMs: number;

  before(async () => {
    build = await buildImage();
    const [port, grpcPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    grpcAddress = `127.0.0.1:${grpcPort}`;
    const publish = ['-p', `127.0.0.1:${port}:8080`, '-p', `127.0.0.1:${grpcPort}:8001`];
    await podman(['run', '-d', '--name', name, ...publish, `${IMAGE_NAME}:latest`]);
    readyMs = await waitReady(`${base}/readyz`, 120_000);
  });
  after(() => podmanQuiet(['rm', '-f', '-t', '5', name]));

  it('is built within its size budget, as a non-root user with labels and a health check', async () => {
    assert.ok(build.sizeBytes <= 700e6, `${build.sizeBytes} bytes`);
    const [image] = JSON.parse(await podman(['image', 'inspect', build.tags[0] as string]));
    const config = image.Config;
    assert.equal(config.User, '10001:10001');
    assert.deepEqual(image.Healthcheck.Test, ['CMD', 'node', 'dist/src/healthcheck.js']);
    for (const label of ['version', 'source', 'licenses', 'revision'])
      assert.ok(config.Labels[`org.opencontainers.image.${label}`], `label ${label}`);
    console.log(
      `# image ${(build.sizeBytes / 1e6).toFixed(0)} MB, built in ${(build.totalMs / 1000).toFixed(1)} s (${JSON.stringify(build.steps)}); ready ${(readyMs / 1000).toFixed(1)} s after podman run`,
    );
  });

  it('answers /readyz, /predict, /v2 over HTTP and gRPC, and passes its own health check', async () => {
    const predicted = await classify(base);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions[0]?.label, 'Neutral');
    const ready = await fetch(`${base}/v2/health/ready`);
    assert.equal(ready.status, 200);
    const res = await fetch(`${base}/v2/models/default/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: new Array(224 * 224 * 3).fill(0.5) },
        ],
      }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.outputs[0].shape, [1, 5]);
    const grpc = new InferenceClient(grpcAddress);
    try {
      const live = await grpc.call<{ ready: boolean }>('ServerReady', {}, { deadlineMs: 10_000 });
      assert.equal(live.code, 0, live.details);
      assert.equal(live.message?.ready, true, 'gRPC ServerReady on 8001');
    } finally {
      grpc.close();
    }
    await podman(['healthcheck', 'run', name]); // exits non-zero (and rejects) when unhealthy
    const stats = await podman(['stats', '--no-stream', '--format', '{{.MemUsage}}', name]);
    console.log(`# container memory (role all, after requests): ${stats.trim()}`);
  });

  it('stops on SIGTERM within its grace, also while it starts (tini forwards it to Node)', async () => {
    const early = `${name}-early`;
    try {
      await podman(['run', '-d', '--name', early, `${IMAGE_NAME}:latest`]);
      const started = performance.now();
      await podman(['stop', '-t', '20', early]);
      const stoppedMs = performance.now() - started;
      const code = Number((await podman(['inspect', '--format', '{{.State.ExitCode}}', early])).trim());
      assert.ok([0, 143].includes(code), `exit code ${code} (137: killed after the grace)`);
      assert.ok(stoppedMs < 15_000, `took ${stoppedMs} ms`);
    } finally {
      await podmanQuiet(['rm', '-f', early]);
    }
  });

  it('refuses an unknown role with the choices', async () => {
    const out = await podman(['run', '--rm', '--name', `${name}-bad`, `${IMAGE_NAME}:latest`, 'everything']).then(
      () => 'exited 0',
      (err: Error) => err.message,
    );
    assert.match(out, /unknown role "everything": use one of all, frontend, model-host/);
  });
});

describe('the Kubernetes manifests under podman kube play', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), `cls-kube-${suffix}-`));
  const files = { redis: join(dir, 'redis.yaml'), rest: join(dir, 'rest.yaml') };
  let frontend: string;
  let hostHealth: string;

  before(async () => {
    await buildImage();
    const redis = await playable(['configmap.yaml', 'redis.yaml'], suffix);
    writeFileSync(files.redis, redis.yaml);
    await podman(['kube', 'play', files.redis]);
    const ip = (
      await podman([
        'inspect',
        '--format',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
        `${redis.podOf('redis')}-redis`,
      ])
    ).trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, 'the Redis pod has an address');
    const rest = await playable(['configmap.yaml', 'model-host.yaml', 'frontend.yaml'], suffix, `redis://${ip}:6379`);
    writeFileSync(files.rest, rest.yaml);
    await podman(['kube', 'play', files.rest]);
    frontend = `http://127.0.0.1:${rest.hostPorts.get('frontend')?.get(8080)}`;
    hostHealth = `http://127.0.0.1:${rest.hostPorts.get('model-host')?.get(8002)}`;
    await waitReady(`${hostHealth}/readyz`, 180_000);
    await waitReady(`${frontend}/readyz`, 60_000);
  });
  after(async () => {
    for (const f of [files.rest, files.redis]) await podmanQuiet(['kube', 'down', f]);
    const volumes = (await podmanQuiet(['volume', 'ls', '-q'])).split('\n').filter((v) => v.endsWith(suffix));
    if (volumes.length > 0) await podmanQuiet(['volume', 'rm', '-f', ...volumes]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a request through the front-end pod, the model-host pod and the Redis pod', async () => {
    const predicted = await classify(frontend);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions[0]?.label, 'Neutral');
    assert.equal((await fetch(`${hostHealth}/livez`)).status, 200);
    const pods = await podman(['pod', 'ps', '--format', '{{.Name}} {{.Status}}', '--filter', `name=${suffix}`]);
    assert.equal(pods.trim().split('\n').length, 3, pods);
  });
});
