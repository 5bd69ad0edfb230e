/**
 * TCP port helpers shared by the embedded Redis, the production scripts, the benchmarks and the tests.
 *
 * A port is picked below the kernel's ephemeral range: the kernel's own pick (listen on 0) is an ephemeral port,
 * which any outgoing connection on the machine may take between our check and the real bind ("Address already in
 * use"). Below that range only explicit binds compete; a random pick and a bind check make those collisions rare.
 */
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/** Lowest port handed out: above the registered services most machines run (databases, brokers, proxies). */
const LOWEST = 10_000;
const ATTEMPTS = 200;
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/** Ports this process handed out: a port checked free is not handed out twice before its caller binds it. */
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (Linux's default 32768 where the file cannot be read). */
export function ephemeralLow(file = EPHEMERAL_RANGE_FILE): number {
  try {
    const low = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Listens on 127.0.0.1:port (0: the kernel picks) and closes again; resolves with the port, or undefined if taken. */
function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err),
    );
    srv.listen(port, '127.0.0.1', () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A loopback port that is free now and was not handed out before by this process; the caller binds it soon after.
 * `range` (low inclusive, high exclusive) defaults to the ports below the ephemeral range.
 */
export async function freePort(
  range: { low: number; high: number } = { low: LOWEST, high: ephemeralLow() },
): Promise<number> {
  for (let attempt = 0; range.high > range.low && attempt < ATTEMPTS; attempt++) {
    const port = randomInt(range.low, range.high);
    if (handedOut.has(port) || (await tryBind(port)) === undefined) continue;
    handedOut.add(port);
    return port;
  }
  // No room below the ephemeral range (an unusual kernel setting), or it is all taken: the kernel's pick.
  const port = await tryBind(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}
