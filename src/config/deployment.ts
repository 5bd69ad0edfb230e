/**
 * Settings of the production topology (PM2 apps, private Redis, nginx), validated together with the service's
 * own so that `npm run prod:up`, ecosystem.config.cjs and scripts/nginx-render.ts read one checked result.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { PROJECT_DIR } from '../build/layout.ts';
import { findBinary } from '../system/binaries.ts';
import {
  type Config,
  defaultPreprocessThreads,
  int,
  parseEnvironment,
  resolveSettings,
  serviceSchema,
} from './config.ts';

/** The project root, whether this runs as source or from dist/. */
export { PROJECT_DIR };

const SECOND = 1000;
const cores = availableParallelism();

const deploymentShape = {
  /** Front-end processes on this machine (one event loop each, mostly I/O). */
  FRONTENDS: int(1, 1024).default(Math.max(2, Math.ceil(cores / 4))),
  /**
   * Model-host processes on this machine (each runs inference + preprocessing threads), each serving every model;
   * or hosts per model, `default:2,inception_v3:1`: one PM2 app per model whose hosts serve only that model.
   */
  MODEL_HOSTS: z
    .union([
      int(1, 1024),
      z
        .string()
        .regex(
          /^[A-Za-z0-9_.-]{1,64}:[1-9]\d{0,3}(,[A-Za-z0-9_.-]{1,64}:[1-9]\d{0,3})*$/,
          'a number, or model:count,model:count',
        ),
    ])
    .default(Math.max(1, Math.floor(cores / 2))),
  /** How long PM2 waits for a model host's "ready" (model load + warm-up). */
  MODEL_LOAD_TIMEOUT_MS: int(1000, 60 * 60 * SECOND).default(180 * SECOND),
  /** Where pm2/, nginx/, redis/ state lives. */
  PROD_VAR_DIR: z.string().min(1).default(join(PROJECT_DIR, 'var')),
  /** Port of the private Redis, chosen once (a free port when unset) and kept in its redis.conf. */
  REDIS_PORT: int(1, 65535).optional(),
  NGINX_HOST: z.string().min(1).default('127.0.0.1'),
  NGINX_PORT: int(1, 65535).default(8000),
  /** host:port,host:port — front ends on other machines instead of the local ones. */
  NGINX_UPSTREAMS: z
    .string()
    .regex(/^\s*[^\s,]+:\d+\s*(,\s*[^\s,]+:\d+\s*)*$/, 'a comma-separated list of host:port')
    .optional(),
  NGINX_RATE_LIMIT: int(1, 10_000_000).default(10_000),
  NGINX_RATE_BURST: int(1, 10_000_000).default(20_000),
  NGINX_WORKERS: z
    .string()
    .regex(/^(auto|[1-9]\d*)$/, 'auto or a positive integer')
    .default('auto'),
  /** nginx `user` directive; unset: "nobody nogroup" when started by root, none otherwise; empty: none. */
  NGINX_USER: z.string().optional(),
  NGINX_ACCESS_LOG: z.string().min(1).optional(),
  /** The nginx binary; unset: nginx on PATH or in an sbin directory. */
  NGINX_BIN: z.string().min(1).optional(),
  /**
   * nginx's gRPC port (HTTP/2 without TLS), spreading calls over every front end's own gRPC port; below the
   * defaults of every other port so that no FRONTENDS count makes them collide.
   */
  NGINX_GRPC_PORT: int(1, 65535).default(7999),
  /** host:port,host:port — other machines' front-end gRPC ports, with NGINX_UPSTREAMS (else nginx serves no gRPC). */
  NGINX_GRPC_UPSTREAMS: z
    .string()
    .regex(/^\s*[^\s,]+:\d+\s*(,\s*[^\s,]+:\d+\s*)*$/, 'a comma-separated list of host:port')
    .optional(),
  /** nginx -p prefix for scripts/nginx-render.ts run by hand (prod:up uses PROD_VAR_DIR/nginx). */
  NGINX_PREFIX: z.string().min(1).optional(),
};
const deploymentSchema = serviceSchema.extend(deploymentShape);
type DeploymentSettings = Omit<
  z.infer<typeof deploymentSchema>,
  keyof z.infer<typeof serviceSchema> | 'MODEL_HOSTS'
> & {
  /** Model-host processes on this machine, all apps together. */
  MODEL_HOSTS: number;
};

/** One PM2 app of model hosts: its name, its processes, and the models they serve (unset: all, or MODELS). */
export interface ModelHostApp {
  app: string;
  instances: number;
  models?: string;
}

/** MODEL_HOSTS as PM2 apps: `model-host` for a number, `model-host-<model>` per model for a list. */
function modelHostApps(value: number | string): ModelHostApp[] {
  if (typeof value === 'number') return [{ app: 'model-host', instances: value }];
  return value.split(',').map((item) => {
    const [model, count] = item.split(':') as [string, string];
    return { app: `model-host-${model}`, instances: Number(count), models: model };
  });
}

export interface DeploymentConfig extends Readonly<DeploymentSettings> {
  /** The service's settings as every PM2 app will parse them. */
  readonly service: Config;
  /** PREPROCESS_THREADS of each model host: as set, else the cores shared among MODEL_HOSTS. */
  readonly preprocessThreadsPerHost: number;
  /** The model-host PM2 apps. With hosts per model, the front ends serve exactly those models. */
  readonly modelHostApps: readonly ModelHostApp[];
  /** NGINX_BIN, else nginx found on PATH or in an sbin directory. */
  readonly nginxBin: string;
  readonly paths: {
    readonly varDir: string;
    readonly pm2Home: string;
    readonly nginxPrefix: string;
    readonly redisDir: string;
  };
}

/**
 * The front ends of a machine listen for gRPC on GRPC_PORT, GRPC_PORT + 1, ... (one each, FRONTEND_INDEX): that
 * range must stay below 65536 and clear of every other port of the deployment.
 */
function checkGrpcPorts(p: z.infer<typeof deploymentSchema>): void {
  if (p.GRPC_PORT === 'off' || p.GRPC_PORT === 0) return;
  const first = p.GRPC_PORT;
  const last = first + p.FRONTENDS - 1;
  const others: Array<[string, number | undefined]> = [
    ['PORT', p.PORT],
    ['ADMIN_PORT', p.ADMIN_KEYS_FILE ? p.ADMIN_PORT : undefined],
    ['NGINX_PORT', p.NGINX_PORT],
    ['NGINX_GRPC_PORT', p.NGINX_GRPC_PORT],
    ['REDIS_PORT', p.REDIS_PORT],
  ];
  const clash = others.find(([, port]) => port !== undefined && port >= first && port <= last);
  const range = `${first}-${last} (GRPC_PORT + 0..FRONTENDS-1)`;
  if (last > 65535)
    throw new Error(
      `invalid configuration:\n  GRPC_PORT="${first}": the front ends' gRPC ports ${range} run past 65535`,
    );
  if (clash)
    throw new Error(
      `invalid configuration:\n  GRPC_PORT="${first}": the front ends' gRPC ports ${range} include ${clash[0]} (${clash[1]})`,
    );
  if (p.NGINX_GRPC_PORT === p.NGINX_PORT)
    throw new Error(`invalid configuration:\n  NGINX_GRPC_PORT="${p.NGINX_GRPC_PORT}": the same as NGINX_PORT`);
}

/** Validates the service's and the topology's variables together; one Error lists every bad one. */
export function loadDeploymentConfig(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const parsed = parseEnvironment(deploymentSchema, env);
  checkGrpcPorts(parsed);
  const hostApps = modelHostApps(parsed.MODEL_HOSTS);
  const modelHosts = hostApps.reduce((n, a) => n + a.instances, 0);
  const preprocessThreadsPerHost = parsed.PREPROCESS_THREADS ?? defaultPreprocessThreads(modelHosts);
  const service = resolveSettings(
    Object.fromEntries(
      Object.keys(serviceSchema.shape).map((k) => [k, parsed[k as keyof typeof parsed]]),
    ) as Parameters<typeof resolveSettings>[0],
    preprocessThreadsPerHost,
  );
  const varDir = resolve(parsed.PROD_VAR_DIR);
  const settings = Object.fromEntries(Object.keys(deploymentShape).map((k) => [k, parsed[k as keyof typeof parsed]]));
  return Object.freeze({
    ...(settings as DeploymentSettings),
    // The one variable whose empty value means something: no `user` directive even when started by root.
    NGINX_USER: env.NGINX_USER === '' ? '' : parsed.NGINX_USER,
    PROD_VAR_DIR: varDir,
    MODEL_HOSTS: modelHosts,
    modelHostApps: hostApps,
    service,
    preprocessThreadsPerHost,
    nginxBin: parsed.NGINX_BIN ?? findBinary('nginx', env.PATH),
    paths: Object.freeze({
      varDir,
      pm2Home: join(varDir, 'pm2'),
      nginxPrefix: join(varDir, 'nginx'),
      redisDir: join(varDir, 'redis'),
    }),
  });
}

export const deploymentKeys = Object.keys(deploymentShape);
