/**
 * Renders nginx/nginx.conf.template and nginx/site.conf.template from the service's own settings, so that one
 * variable feeds both sides (BODY_LIMIT_BYTES → client_max_body_size, REQUEST_TIMEOUT_MS → proxy timeouts,
 * PORT/FRONTENDS → upstream). Placeholders are {{NAME}}; an unknown or unfilled one is an error.
 *
 *   node dist/scripts/nginx-render.js site   > /etc/nginx/conf.d/image-classify.conf   (system-wide)
 *   node dist/scripts/nginx-render.js main   (the unprivileged main file, for reading)
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { type DeploymentConfig, loadDeploymentConfig, PROJECT_DIR } from '../src/config/deployment.ts';
import { errorBody, errorCodes, protocolErrorBody, type ErrorCode } from '../src/wire/errors.ts';
import { exitIfStaleBuild } from '../src/build/stamp.ts';
import {
  GRPC_FRAME_HEADER_BYTES,
  grpcErrorPages,
  nginxGrpcSettings,
  type NginxGrpcSettings,
} from './lib/nginx-grpc.ts';

export { PROJECT_DIR };
const TEMPLATES = join(PROJECT_DIR, 'nginx');

export interface NginxSettings {
  /** nginx -p prefix: conf/, logs/, temp/ live under it. */
  prefix: string;
  /** The listen directive's argument, e.g. 127.0.0.1:8000 or 80. */
  listen: string;
  /** host:port of each upstream entry (the local front ends' shared port, or other machines'). */
  upstreams: string[];
  bodyLimitBytes: number;
  bodyTimeoutMs: number;
  requestTimeoutMs: number;
  rateLimitPerSecond: number;
  rateBurst: number;
  workerProcesses: string;
  /** A `user` directive, or '' (nginx started by a non-root user runs everything as that user). */
  user: string;
  accessLog: string;
  /** The gRPC server block's settings; undefined: nginx serves no gRPC. */
  grpc: NginxGrpcSettings | undefined;
}

/** The nginx side of the validated deployment settings; `prefix` is nginx's -p directory. */
export function nginxSettings(d: DeploymentConfig, prefix: string): NginxSettings {
  const config = d.service;
  const frontendHost = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST === '::' ? '[::1]' : config.HOST;
  const explicit = (d.NGINX_UPSTREAMS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const upstreams =
    explicit.length > 0
      ? explicit
      : Array.from({ length: Math.max(3, d.FRONTENDS) }, () => `${frontendHost}:${config.PORT}`);
  const host = d.NGINX_HOST;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return {
    prefix: resolve(prefix),
    listen: `${host.includes(':') ? `[${host}]` : host}:${d.NGINX_PORT}`,
    upstreams,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    bodyTimeoutMs: config.BODY_TIMEOUT_MS,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    rateLimitPerSecond: d.NGINX_RATE_LIMIT,
    rateBurst: d.NGINX_RATE_BURST,
    workerProcesses: d.NGINX_WORKERS,
    // Started by root (containers), nginx would switch its workers to nobody anyway; say so explicitly.
    user: d.NGINX_USER !== undefined ? d.NGINX_USER : root ? 'nobody nogroup' : '',
    accessLog: d.NGINX_ACCESS_LOG ?? join(resolve(prefix), 'logs', 'access.log'),
    grpc: nginxGrpcSettings(d, frontendHost),
  };
}

/** nginxSettings from an environment (process.env by default), validated like the service's own settings. */
export function nginxSettingsFromEnv(prefix: string, env: NodeJS.ProcessEnv = process.env): NginxSettings {
  return nginxSettings(loadDeploymentConfig(env), prefix);
}

/** The codes nginx answers by itself, with the service's error code each maps to. */
const NGINX_ERRORS: Array<[number, ErrorCode]> = [
  [400, 'BAD_REQUEST'],
  [408, 'BODY_TIMEOUT'],
  [413, 'BODY_TOO_LARGE'],
  [429, 'RATE_LIMITED'],
  [500, 'INTERNAL'],
  [502, 'BAD_GATEWAY'],
  [503, 'NOT_READY'],
  [504, 'DEADLINE_EXCEEDED'],
];

/** Where nginx's own error answers live (internal locations: a client asking for them gets 404). */
const ERROR_PAGES = '/_classify_errors';

function errorLocations(s: NginxSettings): string {
  return NGINX_ERRORS.map(([status, code]) => {
    if (errorCodes[code].status !== status) throw new Error(`${code} is ${errorCodes[code].status}, not ${status}`);
    const message =
      code === 'BODY_TOO_LARGE' ? `The request body is larger than ${s.bodyLimitBytes} bytes.` : undefined;
    const json = JSON.stringify(errorBody(code, message));
    // The Open Inference Protocol's paths get its shape, {"error": "..."}, with the same code and status.
    const protocol = JSON.stringify(protocolErrorBody(code, message));
    for (const body of [json, protocol])
      if (/['\\$]/.test(body)) throw new Error(`error body for ${code} needs nginx escaping: ${body}`);
    const retryAfter = status === 429 || status === 503 ? '        add_header Retry-After 1 always;\n' : '';
    // A URI, not a named location: nginx cannot redirect to a named one from a request whose URI did not parse
    // (`/v2/models/%ZZ`: "empty URI in redirect to named location"), and answered its bare HTML 500 instead. The
    // request line ($request) is what is left of such a request to tell a /v2 path by.
    return (
      `    error_page ${status} ${ERROR_PAGES}/${status};\n` +
      `    location = ${ERROR_PAGES}/${status} {\n        internal;\n        default_type application/json;\n` +
      `        add_header X-Request-Id $classify_req_id always;\n${retryAfter}` +
      `        if ($request ~ "^[A-Z]+ /v2([/?]| |$)") {\n            return ${status} '${protocol}\\n';\n        }\n` +
      `        return ${status} '${json}\\n';\n    }`
    );
  }).join('\n');
}

function fill(template: string, values: Record<string, string | number>, name: string): string {
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`${name}: unknown placeholder {{${key}}}`);
    return String(values[key]);
  });
  const left = /\{\{[^}]*\}\}/.exec(out);
  if (left) throw new Error(`${name}: unfilled placeholder ${left[0]}`);
  return out;
}

function grpcServer(s: NginxSettings, g: NginxGrpcSettings, template: string): string {
  return fill(
    template,
    {
      GRPC_LISTEN: g.listen,
      GRPC_UPSTREAM_SERVERS: g.upstreams.map((u) => `    server ${u} max_fails=0;`).join('\n'),
      GRPC_RETRY_TRIES: Math.max(2, g.upstreams.length),
      RETRY_WINDOW_MS: Math.min(3000, s.requestTimeoutMs),
      ACCESS_LOG: s.accessLog,
      GRPC_BODY_LIMIT_BYTES: s.bodyLimitBytes + GRPC_FRAME_HEADER_BYTES,
      BODY_BUFFER_BYTES: Math.min(s.bodyLimitBytes, 1024 * 1024),
      BODY_TIMEOUT_MS: s.bodyTimeoutMs,
      GRPC_MAX_CONCURRENT_STREAMS: g.maxConcurrentStreams,
      PROXY_TIMEOUT_MS: s.requestTimeoutMs + 2000,
      RATE_BURST: s.rateBurst,
      GRPC_ERROR_PAGES: grpcErrorPages(NGINX_ERRORS, s.bodyLimitBytes),
    },
    'grpc.conf.template',
  );
}

export async function renderNginx(s: NginxSettings): Promise<{ main: string; site: string }> {
  const [mainTpl, siteTpl, grpcTpl] = await Promise.all([
    readFile(join(TEMPLATES, 'nginx.conf.template'), 'utf8'),
    readFile(join(TEMPLATES, 'site.conf.template'), 'utf8'),
    readFile(join(TEMPLATES, 'grpc.conf.template'), 'utf8'),
  ]);
  const http = fill(
    siteTpl,
    {
      LISTEN: s.listen,
      UPSTREAM_SERVERS: s.upstreams.map((u) => `    server ${u} max_fails=0;`).join('\n'),
      RETRY_TRIES: Math.max(2, s.upstreams.length),
      RETRY_WINDOW_MS: Math.min(3000, s.requestTimeoutMs),
      ACCESS_LOG: s.accessLog,
      BODY_LIMIT_BYTES: s.bodyLimitBytes,
      BODY_BUFFER_BYTES: Math.min(s.bodyLimitBytes, 1024 * 1024),
      BODY_TIMEOUT_MS: s.bodyTimeoutMs,
      PROXY_TIMEOUT_MS: s.requestTimeoutMs + 2000,
      RATE_LIMIT: s.rateLimitPerSecond,
      RATE_BURST: s.rateBurst,
      ERROR_LOCATIONS: errorLocations(s),
    },
    'site.conf.template',
  );
  const site = s.grpc
    ? `${http}\n${grpcServer(s, s.grpc, grpcTpl)}`
    : `${http}\n# No gRPC server: GRPC_PORT=off, or NGINX_UPSTREAMS without NGINX_GRPC_UPSTREAMS.\n`;
  const main = fill(
    mainTpl,
    {
      PREFIX: s.prefix,
      USER_DIRECTIVE: s.user
        ? `user ${s.user};`
        : '# no `user` directive: the workers run as the user who starts nginx',
      WORKER_PROCESSES: s.workerProcesses,
    },
    'nginx.conf.template',
  );
  return { main, site };
}

/** Writes prefix/conf/{nginx.conf,site.conf} and creates logs/ and temp/; returns the main file's path. */
export async function writeNginxConf(s: NginxSettings): Promise<string> {
  const { main, site } = await renderNginx(s);
  for (const dir of ['conf', 'logs', 'temp']) await mkdir(join(s.prefix, dir), { recursive: true, mode: 0o755 });
  await writeFile(join(s.prefix, 'conf', 'site.conf'), site);
  const conf = join(s.prefix, 'conf', 'nginx.conf');
  await writeFile(conf, main);
  return conf;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  exitIfStaleBuild('nginx-render');
  const which = process.argv[2] ?? 'site';
  const deployment = loadDeploymentConfig();
  const { main, site } = await renderNginx(
    nginxSettings(deployment, deployment.NGINX_PREFIX ?? deployment.paths.nginxPrefix),
  );
  process.stdout.write(which === 'main' ? main : site);
}
