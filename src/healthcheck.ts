/**
 * The container image's health check: GET /readyz of the container's role, exit 0 when it answers 200. The front
 * end (roles all and frontend) answers on PORT; a model host, which serves no HTTP, on HOST_HEALTH_PORT. The role
 * is the container's: the argument after serve.js in PID 1's command line (tini -- node dist/src/serve.js <role>),
 * else ROLE.
 */
import { readFileSync } from 'node:fs';
import { chooseRole, readinessPort } from './config/roles.ts';

let arg: string | undefined;
try {
  const argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
  const entry = argv.findIndex((a) => a.endsWith('serve.js'));
  arg = entry >= 0 ? argv[entry + 1] : undefined;
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
