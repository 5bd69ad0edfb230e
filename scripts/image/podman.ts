/**
 * How this project calls podman. PODMAN_FLAGS (global flags, space-separated) defaults to what sandboxes like the
 * project's own need, when runc is installed: crun fails there ("cgroups in hybrid mode not supported"), and
 * systemd is no cgroup manager in a container. Set PODMAN_FLAGS= (empty) on a normal host to use its defaults.
 */
import { existsSync } from 'node:fs';
import { run } from './run.ts';

export const IMAGE_NAME = 'localhost/image-classify-serving';

export const PODMAN_FLAGS: string[] =
  process.env.PODMAN_FLAGS !== undefined
    ? process.env.PODMAN_FLAGS.split(' ').filter(Boolean)
    : existsSync('/usr/sbin/runc')
      ? ['--runtime', '/usr/sbin/runc', '--cgroup-manager=cgroupfs']
      : [];

/** `podman run` flags this sandbox needs: its default rlimits are refused ("setrlimit RLIMIT_NOFILE"). */
export const RUN_FLAGS: string[] = (
  process.env.PODMAN_RUN_FLAGS ?? '--ulimit nofile=1024:1024 --ulimit nproc=1024:1024'
)
  .split(' ')
  .filter(Boolean);

export const podman = (args: string[], opts: { quiet?: boolean; cwd?: string } = {}) =>
  run('podman', [...PODMAN_FLAGS, ...args], { quiet: opts.quiet ?? true, cwd: opts.cwd });
