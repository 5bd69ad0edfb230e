/**
 * How this project calls podman. In a sandbox without systemd (containers, CI runners like the project's own),
 * podman needs runc (crun fails: "cgroups in hybrid mode not supported"), cgroupfs, and container rlimits it may
 * set (its defaults are refused: "setrlimit RLIMIT_NOFILE"). `podman kube play` takes no --ulimit, so these go in
 * a containers.conf named by CONTAINERS_CONF for every podman call. PODMAN_SANDBOX=1 forces it, 0 disables it;
 * unset, it applies when systemd does not run here and runc is installed.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './cache.ts';
import { run } from './run.ts';

export const IMAGE_NAME = 'localhost/image-classify-serving';

const SANDBOX_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`;

export const sandboxed =
  process.env.PODMAN_SANDBOX === '1' ||
  (process.env.PODMAN_SANDBOX !== '0' && !existsSync('/run/systemd/system') && existsSync('/usr/sbin/runc'));

/** The environment of podman commands: CONTAINERS_CONF set to the sandbox's settings when sandboxed. */
export function podmanEnv(): NodeJS.ProcessEnv {
  if (!sandboxed) return process.env;
  const conf = join(CACHE_DIR, 'containers.conf');
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(conf, SANDBOX_CONF);
  return { ...process.env, CONTAINERS_CONF: conf };
}

export const podman = (args: string[], opts: { quiet?: boolean } = {}) =>
  run('podman', args, { quiet: opts.quiet ?? true, env: podmanEnv() });
