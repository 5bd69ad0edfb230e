/** TCP port helpers shared by the embedded Redis, the production scripts, the benchmarks and the tests. */
import { createServer } from 'node:net';

/** A loopback port that was free a moment ago (the kernel's pick; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
