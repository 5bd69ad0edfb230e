/**
 * A model host's probe endpoints, for Kubernetes and container health checks: a host takes work from Redis and
 * serves no HTTP, so without these an orchestrator could only watch the process. GET /livez answers 200 while the
 * event loop runs; GET /readyz answers 200 once the host's models are loaded and warm, 503 before and while it
 * drains. Plain node:http: two routes, a few requests a minute.
 */
import { createServer, type Server } from 'node:http';

export type HostPhase = 'starting' | 'ready' | 'draining';

export interface HealthServer {
  readonly port: number;
  setPhase(phase: HostPhase): void;
  close(): Promise<void>;
}

export async function startHealthServer(host: string, port: number): Promise<HealthServer> {
  let phase: HostPhase = 'starting';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const [status, body] =
      req.method !== 'GET' && req.method !== 'HEAD'
        ? [405, { error: 'method not allowed' }]
        : path === '/livez'
          ? [200, { live: true }]
          : path === '/readyz'
            ? [phase === 'ready' ? 200 : 503, { ready: phase === 'ready', phase }]
            : [404, { error: 'not found: GET /livez or /readyz' }];
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(body));
  });
  server.requestTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    setPhase: (next) => {
      phase = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
