/**
 * POST /v2/repository/models/{name}/load|unload: the command is kept in the control hash and published to every
 * model host; the answer waits for an acknowledgement from each host that was live when it was sent (a host that
 * dies meanwhile is not waited for), up to ADMIN_ACTION_TIMEOUT_MS.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { hostIds } from '../registry/host-registry.ts';
import {
  managementKeys,
  parseAck,
  type ControlAck,
  type ControlAction,
  type ModelControl,
} from '../wire/management.ts';

const ACK_POLL_MS = 100;

export type ActionOutcome =
  | { status: 200; acks: ControlAck[] }
  /** No live host, none serves the model, a host failed, or not every host answered in time. */
  | { status: 400 | 404 | 503 | 504; error: string; acks: ControlAck[] };

export interface ActionRequest {
  model: string;
  action: ControlAction;
  /** The admin key's name. */
  by: string;
  timeoutMs: number;
}

export async function runModelAction(
  redis: RedisClient,
  keys: Keys,
  req: ActionRequest,
): Promise<ActionOutcome & { id: string }> {
  const names = managementKeys(keys);
  const id = randomUUID();
  const liveAt = async () => new Set(await hostIds(redis, keys));
  const expected = await liveAt();
  if (expected.size === 0) return { id, status: 503, error: 'No model host is live.', acks: [] };
  const control: ModelControl = { action: req.action, id, by: req.by, at: Date.now() };
  await redis.hset(names.control, req.model, JSON.stringify(control));
  await redis.publish(names.channel, JSON.stringify({ ...control, model: req.model }));

  const until = Date.now() + req.timeoutMs;
  let acks: ControlAck[] = [];
  for (;;) {
    acks = (await redis.lrange(names.ack(id), 0, -1)).flatMap((t) => parseAck(t) ?? []);
    const answered = new Set(acks.map((a) => a.host));
    const live = await liveAt();
    const waiting = [...expected].filter((h) => live.has(h) && !answered.has(h));
    if (waiting.length === 0) break;
    if (Date.now() > until)
      return {
        id,
        status: 504,
        error: `No answer within ${req.timeoutMs} ms from model host(s) ${waiting.join(', ')}.`,
        acks,
      };
    await sleep(ACK_POLL_MS);
  }
  const served = acks.filter((a) => a.served);
  if (served.length === 0)
    return { id, status: 404, error: `No live model host serves a model named ${req.model}.`, acks };
  const failed = served.filter((a) => !a.ok);
  if (failed.length > 0)
    return {
      id,
      status: 400,
      error: `Failed to ${req.action} ${req.model}: ${failed.map((a) => `${a.host}: ${a.error ?? 'failed'}`).join('; ')}`,
      acks,
    };
  return { id, status: 200, acks: served };
}
