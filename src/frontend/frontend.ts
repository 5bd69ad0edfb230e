/**
 * A front-end process: the uWS server, its Redis connections (one for commands, one blocking for replies),
 * and an ordered, idempotent close that stops accepting, lets in-flight requests finish, then disconnects.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { us_listen_socket } from 'uWebSockets.js';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { connectRedis, whenReady } from '../redis/connect.ts';
import { keysFor } from '../wire/keys.ts';
import { defineAdmission } from './admission.ts';
import { PendingRequests } from './pending.ts';
import { ReplyReader } from './reply-reader.ts';
import { registerRoutes } from './server.ts';
import { uws } from './uws.ts';

export interface Frontend {
  readonly id: string;
  readonly port: number;
  pendingCount(): number;
  /** Stops accepting, waits for in-flight requests (bounded by their deadline), disconnects. Idempotent. */
  close(): Promise<void>;
}

export async function startFrontend(config: Config, redisUrl: string, log: Logger): Promise<Frontend> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX);
  const redis = connectRedis(redisUrl, `frontend:${id}`, log);
  const blocking = connectRedis(redisUrl, `frontend:${id}:replies`, log);
  defineAdmission(redis);
  const pending = new PendingRequests();
  const replyStream = keys.replies(id);
  const replies = new ReplyReader(blocking, replyStream, pending, log);
  let draining = false;

  try {
    await Promise.all([whenReady(redis), whenReady(blocking)]);
    await replies.start();
  } catch (err) {
    redis.disconnect();
    blocking.disconnect();
    throw err;
  }

  const app = uws.App();
  registerRoutes(app, { uws, config, redis, keys, replyStream, pending, log, isDraining: () => draining });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.HOST, config.PORT, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}`))));
  });
  const port = uws.us_socket_local_port(listenSocket);
  log.info({ frontendId: id, host: config.HOST, port }, 'front end listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      uws.us_listen_socket_close(listenSocket);
      // In-flight requests end by result or deadline; REQUEST_TIMEOUT_MS bounds this wait.
      await pending.whenEmpty();
      await replies.stop();
      await redis.quit().catch(() => redis.disconnect());
      log.info({ frontendId: id }, 'front end closed');
    })();
    return closing;
  };

  return { id, port, pendingCount: () => pending.size, close };
}
