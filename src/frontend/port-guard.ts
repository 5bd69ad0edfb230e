/**
 * One port, one deployment. Both HTTP servers listen with SO_REUSEPORT, so that PM2's front ends of one deployment
 * share their port; but a second deployment started on the same port would share it too, silently, and clients
 * would get answers from either at random. So before listening a front end asks whoever answers on the port who
 * it is (GET /healthz with PROBE_HEADER; the answer names its deployment in DEPLOYMENT_HEADER), and refuses to
 * start unless nothing answers or the answer is its own deployment.
 *
 * A deployment is its KEY_PREFIX on its Redis (without credentials): front ends that share both share the queues,
 * so they are one deployment whatever process manager started them.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { describeTarget, type RedisTarget } from '../redis/connect.ts';

export const PROBE_HEADER = 'x-deployment-probe';
export const DEPLOYMENT_HEADER = 'x-deployment';
const PROBE_TIMEOUT_MS = 2000;

/** The deployment's identity: a hash, so the answer reveals neither the prefix nor where Redis is. */
export function deploymentId(keyPrefix: string, redis: RedisTarget): string {
  return createHash('sha256')
    .update(`${keyPrefix}\n${describeTarget(redis)}`)
    .digest('hex')
    .slice(0, 32);
}

/** Who answers on host:port: undefined when nothing listens, else the deployment it names ('' for none). */
function probe(host: string, port: number): Promise<string | undefined> {
  // A wildcard address is reached on loopback.
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target,
        port,
        path: '/healthz',
        headers: { [PROBE_HEADER]: '1', connection: 'close' },
        timeout: PROBE_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        const named = res.headers[DEPLOYMENT_HEADER];
        resolve(typeof named === 'string' ? named : '');
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no HTTP answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
    req.end();
  });
}

/** Throws, naming the port, when something other than this deployment serves host:port. */
export async function assertPortOurs(host: string, port: number, deployment: string): Promise<void> {
  if (port === 0) return; // a port of its own, chosen by the kernel
  let answer: string | undefined;
  try {
    answer = await probe(host, port);
  } catch (err) {
    throw new Error(
      `port ${port} on ${host} is in use by something that does not answer as this service (${(err as Error).message}): choose another PORT or stop it`,
    );
  }
  if (answer === undefined || answer === deployment) return;
  throw new Error(
    `port ${port} on ${host} is served by another deployment${answer ? '' : ' or another HTTP server'}: ` +
      'choose another PORT, or stop it first (front ends of one deployment share a port: the same KEY_PREFIX on the same Redis)',
  );
}
