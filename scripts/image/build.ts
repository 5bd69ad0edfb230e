/**
 * `npm run image:build`: the OCI image localhost/image-classify-serving:<version> and :latest in podman's
 * storage, without a Docker daemon, from Debian's packages and the npm registry only. Each input is prepared in
 * a cached step (cache.ts), the build context is assembled from hard links, and `podman build` reuses every
 * layer whose files did not change (deploy/container/Containerfile). Needs root (debootstrap), podman, npm.
 *
 *   npm run image:build                  build, print the figures (steps, times, size) as JSON
 *   IMAGE_CACHE_DIR=... IMAGE_NODE_VERSION=24.x.y IMAGE_DEBIAN_MIRROR=... PODMAN_FLAGS=...   (see the modules)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIfStale } from '../build.ts';
import { NODE_FLAGS } from '../../src/config/node-flags.ts';
import { BUILD_DIR, PROJECT_DIR } from '../../src/build/layout.ts';
import { installModules, MODULE_INPUTS } from './app-modules.ts';
import { CACHE_DIR, cachedStep, dropStale, keyOf, keyOfPaths, type StepResult } from './cache.ts';
import { exportModel, MODEL_INPUT_ROOTS } from './model.ts';
import { fetchNode, nodeAbi, resolveNodeVersion } from './node-runtime.ts';
import { IMAGE_NAME, podman } from './podman.ts';
import { makeRootfs, rootfsRecipe } from './rootfs.ts';
import { run } from './run.ts';
import { MALLOC_ARENA_MAX_FOR_HOSTS, UV_THREADPOOL_FOR_HOSTS } from '../../src/config/uv-threads.ts';

const fileBytes = (rel: string) => readFileSync(join(PROJECT_DIR, rel));

/** SPDX expression over the project's and every kept package's licence field. */
function licences(modules: string): string {
  const found = new Set<string>(['MIT']); // the project, Node.js
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const pkg = join(dir, name);
      if (name.startsWith('@')) visit(pkg);
      else if (!name.startsWith('.')) {
        try {
          const license = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { license?: string }).license;
          if (license) found.add(/\s(OR|AND)\s/.test(license) ? `(${license.replace(/^\((.*)\)$/, '$1')})` : license);
        } catch {
          // not a package
        }
        try {
          visit(join(pkg, 'node_modules'));
        } catch {
          // no nested packages
        }
      }
    }
  };
  visit(modules);
  return [...found].sort().join(' AND ');
}

export interface ImageBuild {
  tags: string[];
  imageId: string;
  sizeBytes: number;
  totalMs: number;
  steps: Record<string, { cached: boolean; ms: number }>;
  nodeVersion: string;
  prune: unknown;
}

export async function buildImage(): Promise<ImageBuild> {
  const started = performance.now();
  buildIfStale();
  const pkg = JSON.parse(fileBytes('package.json').toString()) as {
    version: string;
    repository?: string | { url: string };
  };
  const nodeVersion = await resolveNodeVersion();
  const steps: Record<string, StepResult> = {};
  steps.rootfs = await cachedStep('rootfs', keyOf(rootfsRecipe()), (dir) => makeRootfs(dir).then(() => {}));
  steps.node = await cachedStep('node', nodeVersion, (dir) => fetchNode(nodeVersion, dir));
  const abi = await nodeAbi(join(steps.node.dir, 'node'));
  // The modules depend on the lock, .npmrc, the prune rules and the ABI of the image's Node.
  const modulesKey = keyOf(abi, keyOfPaths([...MODULE_INPUTS, 'scripts/image/prune.ts']));
  steps.modules = await cachedStep('modules', modulesKey, (dir) => installModules(dir, abi));
  steps.model = await cachedStep('model', keyOfPaths(MODEL_INPUT_ROOTS), exportModel);

  // The build context: hard links into the cache, so unchanged inputs keep their files and podman its layers.
  const context = join(CACHE_DIR, 'context');
  rmSync(context, { recursive: true, force: true });
  dropStale(Object.values(steps).map((s) => s.dir));
  mkdirSync(join(context, 'app'), { recursive: true });
  await run('cp', ['-al', join(steps.rootfs.dir, 'rootfs.tar'), join(context, 'rootfs.tar')]);
  await run('cp', ['-al', steps.node.dir, join(context, 'node')]);
  await run('cp', ['-al', steps.modules.dir, join(context, 'modules')]);
  await run('cp', ['-al', steps.model.dir, join(context, 'models')]);
  await run('cp', ['-a', join(PROJECT_DIR, BUILD_DIR), join(context, 'app', BUILD_DIR)]);
  copyFileSync(join(PROJECT_DIR, 'package.json'), join(context, 'app', 'package.json'));

  const revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_DIR, encoding: 'utf8' }).trim();
  const repository = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const tags = [`${IMAGE_NAME}:${pkg.version}`, `${IMAGE_NAME}:latest`];
  const buildArgs = {
    VERSION: pkg.version,
    REVISION: revision,
    CREATED: new Date().toISOString(),
    SOURCE: process.env.IMAGE_SOURCE ?? repository ?? `git commit ${revision} (set IMAGE_SOURCE to its repository URL)`,
    LICENSES: licences(join(context, 'modules', 'node_modules')),
    UV_THREADPOOL_SIZE: String(UV_THREADPOOL_FOR_HOSTS),
    MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX_FOR_HOSTS),
    // The service's Node options, as npm start passes them (src/config/node-flags.ts).
    NODE_FLAGS: NODE_FLAGS.join(' '),
  };
  const previous = (
    await podman(['image', 'inspect', '--format', '{{.Id}}', tags[0] as string]).catch(() => '')
  ).trim();
  const podmanStarted = performance.now();
  await podman([
    'build',
    '--format',
    'docker',
    '--layers',
    '-f',
    join(PROJECT_DIR, 'deploy', 'container', 'Containerfile'),
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...tags.flatMap((t) => ['-t', t]),
    context,
  ]);
  const podmanMs = performance.now() - podmanStarted;
  const [imageId, size] = (await podman(['image', 'inspect', '--format', '{{.Id}} {{.Size}}', tags[0] as string]))
    .trim()
    .split(' ');
  rmSync(context, { recursive: true, force: true });
  // The image these tags named before, now untagged: removed unless a container still uses it (shared layers stay).
  if (previous && previous !== imageId) await podman(['rmi', previous]).catch(() => {});
  const prune = JSON.parse(readFileSync(join(steps.modules.dir, 'prune-report.json'), 'utf8'));
  return {
    tags,
    imageId: imageId ?? '',
    sizeBytes: Number(size),
    totalMs: performance.now() - started,
    steps: {
      ...Object.fromEntries(Object.entries(steps).map(([k, s]) => [k, { cached: s.cached, ms: Math.round(s.ms) }])),
      'podman build': { cached: false, ms: Math.round(podmanMs) },
    },
    nodeVersion,
    prune,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const result = await buildImage();
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `image:build: ${result.tags.join(', ')}, ${(result.sizeBytes / 1e6).toFixed(0)} MB, ${(result.totalMs / 1000).toFixed(0)} s (cache: ${relative(PROJECT_DIR, CACHE_DIR)})`,
    );
  } catch (err) {
    console.error(`image:build failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
