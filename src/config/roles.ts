/**
 * The roles one process (one container) can take, chosen by its first argument or ROLE (the argument wins):
 *
 *   all         front end + model host in one process, with a private redis-server unless REDIS_URL (or a
 *               cluster or sentinels) is set: `npm start`'s tree, for a single-container trial (the default)
 *   frontend    the HTTP front end only; needs an external Redis
 *   model-host  inference only; needs an external Redis; probes on HOST_HEALTH_PORT
 */
import { serviceSchema } from './config.ts';

export const ROLES = ['all', 'frontend', 'model-host'] as const;

export type Role = (typeof ROLES)[number];

/** The role named by `arg` or else ROLE ('all' when neither); throws naming the choices for any other word. */
export function chooseRole(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): Role {
  const role = arg || env.ROLE || 'all';
  if ((ROLES as readonly string[]).includes(role)) return role as Role;
  throw new Error(`unknown role ${JSON.stringify(role)}: use one of ${ROLES.join(', ')} (argument or ROLE)`);
}

/** The port a role answers GET /readyz on: a model host's HOST_HEALTH_PORT, else the front end's PORT. */
export function readinessPort(role: Role, env: NodeJS.ProcessEnv = process.env): number {
  const key = role === 'model-host' ? 'HOST_HEALTH_PORT' : 'PORT';
  return serviceSchema.shape[key].parse(env[key] || undefined);
}
