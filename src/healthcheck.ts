/**
 * The container image's health check: GET /readyz of the container's role, exit 0 when it answers 200. The front
 * end (roles all and frontend) answers on PORT; a model host, which serves no HTTP, on HOST_HEALTH_PORT. The role
 * is the container's: PID 1's argument (node dist/src/serve.js <role>), else ROLE.
 */
import { readFileSync } from 'node:fs';
import { chooseRole, readinessPort } from './config/roles.ts';

let arg: string | undefined;
try {
  arg = readFileSync('/proc/1/cmdline', 'utf8').split('\0')[2];
} catch {
  // not Linux, or PID 1 unreadable: ROLE decides
}
try {
  const port = readinessPort(chooseRole(arg));
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2500) });
  process.exitCode = res.status === 200 ? 0 : 1;
} catch {
  process.exitCode = 1;
}
