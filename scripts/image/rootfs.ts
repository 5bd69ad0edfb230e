/**
 * The image's base: a minimal Debian 13 root made by debootstrap (--variant=minbase) from Debian's mirror, with
 * the few packages the service runs beside Node (redis-server for the single-container trial, CA certificates for
 * TLS to a managed Redis, tini as init), the non-root user, and without what a container never reads (apt lists and caches,
 * documentation, man pages, locales). Packed as one tar for the Containerfile's ADD. Needs root (debootstrap).
 */
import { appendFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bytesUnder } from './prune.ts';
import { run } from './run.ts';

export const DEBIAN_SUITE = 'trixie'; // Debian 13: glibc 2.41, which uWS 20.57's binaries need on Node 22/24
// tini as PID 1: forwards stop signals to Node (which as PID 1 would drop those arriving before its handlers) and
// reaps orphans (a private redis-server whose parent died).
export const DEBIAN_PACKAGES = ['redis-server', 'ca-certificates', 'tini'];
export const APP_UID = 10001;
const MIRROR = process.env.IMAGE_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
/** Removed from the root: nothing in a running container reads them. */
const PRUNED = [
  'var/lib/apt/lists',
  'var/cache/apt',
  'var/cache/debconf',
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'var/log',
];

/** Inputs of the root: a change to any of them rebuilds it. */
export const rootfsRecipe = () => JSON.stringify({ DEBIAN_SUITE, DEBIAN_PACKAGES, APP_UID, MIRROR, PRUNED, v: 1 });

export async function makeRootfs(out: string): Promise<{ prunedBytes: number }> {
  const root = join(out, 'root');
  await run(
    'debootstrap',
    ['--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`, DEBIAN_SUITE, root, MIRROR],
    { quiet: true },
  );
  // The service's user and group; /app is created by the image's COPY steps.
  appendFileSync(
    join(root, 'etc/passwd'),
    `app:x:${APP_UID}:${APP_UID}:image-classify-serving:/app:/usr/sbin/nologin\n`,
  );
  appendFileSync(join(root, 'etc/group'), `app:x:${APP_UID}:\n`);
  let prunedBytes = 0;
  for (const rel of PRUNED) {
    const dir = join(root, rel);
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      prunedBytes += bytesUnder(join(dir, name));
      rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
  // Package documentation goes too, except each package's copyright file (its licence terms).
  await run('find', [
    join(root, 'usr/share/doc'),
    '-mindepth',
    '1',
    '-not',
    '-type',
    'd',
    '-not',
    '-name',
    'copyright',
    '-delete',
  ]);
  // /dev, /proc and /sys are the runtime's; the tar keeps their empty directories only.
  await run('tar', [
    '--numeric-owner',
    '--sort=name',
    '--exclude=./dev/*',
    '--exclude=./proc/*',
    '--exclude=./sys/*',
    '-C',
    root,
    '-cf',
    join(out, 'rootfs.tar'),
    '.',
  ]);
  rmSync(root, { recursive: true, force: true });
  return { prunedBytes };
}
