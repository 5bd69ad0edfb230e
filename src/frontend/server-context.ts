/** What every front-end route handler is given: the /v1 routes (server.ts) and the /v2 routes (v2/routes.ts). */
import type { RedisClient } from '../redis/connect.ts';
import { queueBounds } from './admission.ts';
import { BodyBudget } from './body-budget.ts';
import { BodyPool, POOLED_BODY_MAX_BYTES } from '../http/body-pool.ts';
import type { Keys } from '../wire/keys.ts';
import type { InfoContext } from './info-routes.ts';
import type { PredictContext } from './predict.ts';

export interface ServerContext extends PredictContext, InfoContext {
  keys: Keys;
  redis: RedisClient;
  /** This deployment's identity, told to a front end probing the port before it listens (port-guard.ts). */
  deployment: string;
}

/** What a context needs from its caller; the rest follows from the configuration. */
export type ContextParts = Omit<ServerContext, 'bounds' | 'bodyBudget' | 'bodyPool'>;

/** The context with the bounds, body budget and body pool that the configuration sets. */
export function serverContext(parts: ContextParts): ServerContext {
  return {
    ...parts,
    bounds: queueBounds(parts.config),
    bodyBudget: new BodyBudget(parts.config.MAX_INFLIGHT_BODY_BYTES),
    bodyPool: new BodyPool(parts.config.BODY_POOL_BYTES, POOLED_BODY_MAX_BYTES),
  };
}
