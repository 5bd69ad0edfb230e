/** What every front-end route handler is given: the /v1 routes (server.ts) and the /v2 routes (v2/routes.ts). */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import type { InfoContext } from './info-routes.ts';
import type { PredictContext } from './predict.ts';

export interface ServerContext extends PredictContext, InfoContext {
  keys: Keys;
  redis: RedisClient;
}
