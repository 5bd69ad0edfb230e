/**
 * nginx with the project's own rendered configuration (scripts/nginx-render.ts) in a test's own prefix, on a free
 * port; stop() quits it and waits until it is gone (nginx removes its pid file on exit).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDeploymentConfig } from '../../src/config/deployment.ts';
import { freePort } from '../../src/system/ports.ts';
import { nginxSettingsFromEnv, writeNginxConf } from '../../scripts/nginx-render.ts';

const run = promisify(execFile);

export interface TestNginx {
  url: string;
  /** The prefix: conf/ and logs/ (access.log, error.log) live under it. */
  prefix: string;
  stop(): Promise<void>;
}

/** `settings`: the service and nginx variables it renders from (PORT of the upstream, FRONTENDS, NGINX_*, ...). */
export async function startTestNginx(prefix: string, settings: NodeJS.ProcessEnv): Promise<TestNginx> {
  const nginx = loadDeploymentConfig().nginxBin;
  const port = await freePort();
  // No gRPC server unless asked for: its port (NGINX_GRPC_PORT) would collide between tests side by side.
  const env = { NGINX_WORKERS: '1', GRPC_PORT: 'off', ...settings, NGINX_PORT: String(port) };
  await writeNginxConf(nginxSettingsFromEnv(prefix, env));
  const args = ['-p', `${prefix}/`, '-c', 'conf/nginx.conf', '-e', 'logs/error.log'];
  await run(nginx, ['-t', '-q', ...args]);
  await run(nginx, args);
  return {
    url: `http://127.0.0.1:${port}`,
    prefix,
    async stop() {
      await run(nginx, [...args, '-s', 'quit']).catch(() => {});
      for (let i = 0; i < 40; i++) {
        if (!(await readFile(join(prefix, 'logs', 'nginx.pid'), 'utf8').catch(() => ''))) break;
        await sleep(100);
      }
    },
  };
}
