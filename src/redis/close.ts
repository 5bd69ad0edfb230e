/** Closing a Redis connection whatever its state. */
import type { RedisClient } from './connect.ts';

/**
 * QUIT when the connection is up (pending replies arrive first); when it is not, QUIT is refused (no offline
 * queue) and the client would keep reconnecting, so it is disconnected instead.
 */
export async function closeRedis(conn: RedisClient): Promise<void> {
  await conn.quit().catch(() => conn.disconnect());
}
