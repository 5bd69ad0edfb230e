/**
 * The container image's figures for docs/deployment.md and the manifests' resources: build time (as cached on
 * this machine; IMAGE_CACHE_DIR empty for a cold build), size, start-up (podman run to /readyz 200) and memory of
 * the single-container role, then each pod of the manifests under `podman kube play` while 8 clients classify:
 * peak RSS and cores used per container, read from /proc on the host.
 *
 *   node --import tsx bench/image.ts [requests=400]            writes bench/results/image.json (needs root, podman)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage } from '../scripts/image/build.ts';
import { IMAGE_NAME, podman } from '../scripts/image/podman.ts';
import { PROJECT_DIR } from '../src/build/layout.ts';
import { freePort } from '../src/system/ports.ts';
import { processTree } from '../src/system/processes.ts';
import { rssBytesOf } from '../scripts/lib/launch.ts';
import { playable } from '../scripts/image/kube-play.ts';

const requests = Number(process.argv[2] ?? 400);
const suffix = `b${process.pid}`;
const chelsea = readFileSync(join(PROJECT_DIR, 'examples', 'chelsea.png'));
const MiB = 1024 * 1024;

async function readyAfter(url: string, started: number): Promise<number> {
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.arrayBuffer().then(() => r.status === 200),
      () => false,
    );
    if (ok) return performance.now() - started;
    if (performance.now() - started > 180_000) throw new Error(`${url}: not ready after 180 s`);
    await sleep(100);
  }
}

async function load(base: string, total: number, clients = 8): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next++ < total) {
        const form = new FormData();
        form.append('image', new Blob([chelsea], { type: 'image/png' }), 'chelsea.png');
        const res = await fetch(`${base}/predict`, { method: 'POST', body: form });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`/predict ${res.status}`);
      }
    }),
  );
  return (total / (performance.now() - started)) * 1000;
}

/** CPU seconds (user + system, reaped children included) of a process, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return [11, 12, 13, 14].reduce((sum, k) => sum + Number(fields[k] ?? 0), 0) / 100;
  } catch {
    return 0;
  }
}

/**
 * Per container while `during` runs: peak RSS of its processes (MiB, read from /proc on the host, as
 * bench/startup.ts does) and the cores it used on average (CPU seconds over wall seconds).
 */
async function sampled(names: string[], during: Promise<unknown>) {
  const pids = new Map<string, number>();
  for (const n of names) pids.set(n, Number((await podman(['inspect', '--format', '{{.State.Pid}}', n])).trim()));
  const cpuOf = (n: string) => processTree(pids.get(n) ?? 0).reduce((sum, p) => sum + cpuSeconds(p), 0);
  const rssOf = (n: string) => processTree(pids.get(n) ?? 0).reduce((sum, p) => sum + rssBytesOf(p), 0) / MiB;
  const cpu0 = new Map(names.map((n) => [n, cpuOf(n)]));
  const started = performance.now();
  const peakRss = new Map(names.map((n) => [n, 0]));
  let done = false;
  const finished = during.finally(() => {
    done = true;
  });
  while (!done) {
    for (const n of names) peakRss.set(n, Math.max(peakRss.get(n) ?? 0, rssOf(n)));
    await sleep(500);
  }
  await finished;
  const wallS = (performance.now() - started) / 1000;
  return Object.fromEntries(
    names.map((n) => [
      n,
      {
        peakRssMiB: Math.round(peakRss.get(n) ?? 0),
        cores: Number(((cpuOf(n) - (cpu0.get(n) ?? 0)) / wallS).toFixed(2)),
      },
    ]),
  );
}

const build = await buildImage();
const result: Record<string, unknown> = { cpu: cpus()[0]?.model, cores: cpus().length, at: new Date().toISOString() };
result.build = {
  sizeMB: Math.round(build.sizeBytes / 1e6),
  totalS: build.totalMs / 1000,
  steps: build.steps,
  prune: build.prune,
};

// One container, role all (front end + model host + private Redis).
const single = `cls-bench-${suffix}`;
try {
  const port = await freePort();
  const started = performance.now();
  await podman(['run', '-d', '--name', single, '-p', `127.0.0.1:${port}:8080`, `${IMAGE_NAME}:latest`]);
  const readyMs = await readyAfter(`http://127.0.0.1:${port}/readyz`, started);
  const peak = await sampled([single], load(`http://127.0.0.1:${port}`, requests));
  result.single = { readyS: readyMs / 1000, peak };
} finally {
  await podman(['rm', '-f', '-t', '5', single]).catch(() => '');
}

// The manifests under podman kube play.
const dir = mkdtempSync(join(tmpdir(), `cls-bench-${suffix}-`));
const files = [join(dir, 'redis.yaml'), join(dir, 'rest.yaml')] as const;
try {
  const redis = await playable(['configmap.yaml', 'redis.yaml'], suffix);
  writeFileSync(files[0], redis.yaml);
  await podman(['kube', 'play', files[0]]);
  const redisCtr = `${redis.podOf('redis')}-redis`;
  const ip = (
    await podman(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', redisCtr])
  ).trim();
  const rest = await playable(['configmap.yaml', 'model-host.yaml', 'frontend.yaml'], suffix, `redis://${ip}:6379`);
  writeFileSync(files[1], rest.yaml);
  const started = performance.now();
  await podman(['kube', 'play', files[1]]);
  const front = `http://127.0.0.1:${rest.hostPorts.get('frontend')?.get(8080)}`;
  const hostReadyS =
    (await readyAfter(`http://127.0.0.1:${rest.hostPorts.get('model-host')?.get(8002)}/readyz`, started)) / 1000;
  const frontReadyS = (await readyAfter(`${front}/readyz`, started)) / 1000;
  const names = [`${rest.podOf('frontend')}-frontend`, `${rest.podOf('model-host')}-model-host`, redisCtr];
  const idle = await sampled(names, sleep(1500));
  let rps = 0;
  const peak = await sampled(
    names,
    load(front, requests).then((r) => (rps = r)),
  );
  result.kube = { hostReadyS, frontReadyS, idle, peak, rps };
} finally {
  for (const f of [files[1], files[0]]) await podman(['kube', 'down', f]).catch(() => '');
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(join(PROJECT_DIR, 'bench/results/image.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
