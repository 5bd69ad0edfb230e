/**
 * The management API (the Open Inference Protocol's model-repository extension) on its own HTTP server and port
 * (ADMIN_HOST:ADMIN_PORT, loopback by default), started by a front end only when ADMIN_KEYS_FILE is set. Every
 * request needs an admin key; an inference key gets 403. Errors use the protocol's shape, {"error": "..."}.
 */
import type { Config } from '../config/config.ts';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { protocolErrorBody, type ErrorCode } from '../wire/errors.ts';
import type { ControlAction } from '../wire/management.ts';
import type { Guard } from '../auth/guard.ts';
import type { Access } from '../http/access.ts';
import { lingerLimits } from '../http/linger.ts';
import { answerHandlerError } from '../http/handler-error.ts';
import { createHttpServer } from '../http/select.ts';
import { decodeParam } from '../http/router.ts';
import { BodyError, type HttpServer, type IncomingRequest, type ServerResponse } from '../http/types.ts';
import { Answer } from '../http/respond.ts';
import { readIndex } from './repository-index.ts';
import { runModelAction } from './model-actions.ts';

/** What a model name may be (it becomes part of Redis keys and metric labels). */
const MODEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const OUTCOME_CODES = {
  400: 'LOAD_FAILED',
  404: 'NOT_FOUND',
  503: 'NOT_READY',
  504: 'DEADLINE_EXCEEDED',
} as const satisfies Record<number, ErrorCode>;

/** Request bodies here are small JSON (index filter, load parameters). */
const ADMIN_BODY_LIMIT_BYTES = 64 * 1024;

export interface AdminContext extends Access {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  guard: Guard;
}

export interface AdminServer {
  readonly port: number;
  close(): void;
}

/** Admits the request, or answers 401/403 and returns undefined. */
function admit(
  ctx: AdminContext,
  req: IncomingRequest,
  res: ServerResponse,
): { answer: Answer; key: string } | undefined {
  const answer = new Answer(res, req, '/v2/repository', ctx);
  answer.errorShape = 'protocol'; // the protocol's error shape (protocolErrorBody), as on the front end's /v2 routes
  const result = ctx.guard.check(req.headers.authorization);
  if (result.keyName !== undefined) answer.setKeyName(result.keyName);
  if (result.ok) return { answer, key: result.keyName ?? '' };
  answer.closeConnection = true;
  answer.error(result.code, undefined, undefined, result.headers);
  return undefined;
}

async function readJson(ctx: AdminContext, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  const body = await res.readBody({ limit: ADMIN_BODY_LIMIT_BYTES, timeoutMs: ctx.config.BODY_TIMEOUT_MS });
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function registerAdminRoutes(http: HttpServer, ctx: AdminContext): void {
  http.route('POST', '/v2/repository/index', (req, res) => {
    const admitted = admit(ctx, req, res);
    if (!admitted) return;
    const { answer } = admitted;
    void (async () => {
      const body = await readJson(ctx, res);
      if (!body || (body.ready !== undefined && typeof body.ready !== 'boolean'))
        return answer.error('BAD_REQUEST', 'The body must be a JSON object, optionally {"ready": true|false}.');
      const index = await readIndex(ctx.redis, ctx.keys);
      const entries = body.ready === true ? index.filter((e) => e.state === 'ready') : index;
      answer.json(200, entries, { models: entries.length });
    })().catch((err: Error) => {
      if (err instanceof BodyError) return answer.bodyError(err, ADMIN_BODY_LIMIT_BYTES);
      ctx.log.warn({ reqId: answer.id, err: err.message }, 'management: index failed');
      answer.error('NOT_READY', 'Redis is unreachable.');
    });
  });

  for (const action of ['load', 'unload'] as const satisfies readonly ControlAction[]) {
    http.route('POST', `/v2/repository/models/:name/${action}`, (req, res) => {
      const admitted = admit(ctx, req, res);
      if (!admitted) return;
      const { answer, key } = admitted;
      const model = decodeParam(req.params.name);
      if (model === undefined || !MODEL_NAME.test(model))
        return answer.error('BAD_REQUEST', `Not a model name: it must match ${MODEL_NAME.source}.`);
      void (async () => {
        if (!(await readJson(ctx, res))) return answer.error('BAD_REQUEST', 'The body must be empty or a JSON object.');
        const log = ctx.log.child({ reqId: answer.id, key, model, action });
        log.info('management: action asked');
        const outcome = await runModelAction(ctx.redis, ctx.keys, {
          model,
          action,
          by: key,
          timeoutMs: ctx.config.ADMIN_ACTION_TIMEOUT_MS,
        });
        const hosts = outcome.acks.map((a) => ({
          host: a.host,
          served: a.served,
          ok: a.ok,
          versions: a.versions,
          ...(a.error ? { error: a.error } : {}),
        }));
        log[outcome.status === 200 ? 'info' : 'warn'](
          {
            commandId: outcome.id,
            status: outcome.status,
            hosts,
            error: 'error' in outcome ? outcome.error : undefined,
          },
          `management: ${action} ${outcome.status === 200 ? 'done' : 'failed'}`,
        );
        if (outcome.status === 200) return void answer.json(200, { model, action, hosts }, { commandId: outcome.id });
        const code = OUTCOME_CODES[outcome.status];
        answer.json(
          outcome.status,
          { ...protocolErrorBody(code, outcome.error), hosts },
          { commandId: outcome.id, code },
        );
      })().catch((err: Error) => {
        if (err instanceof BodyError) return answer.bodyError(err, ADMIN_BODY_LIMIT_BYTES);
        ctx.log.warn({ reqId: answer.id, err: err.message }, 'management: action failed');
        answer.error('NOT_READY', 'Redis is unreachable.');
      });
    });
  }

  http.route('ANY', '/*', (req, res) => {
    const admitted = admit(ctx, req, res);
    if (admitted) admitted.answer.error('NOT_FOUND');
  });
}

export async function startAdminServer(ctx: AdminContext): Promise<AdminServer> {
  // The front end beside it has said it once if uWS does not load here.
  const http = createHttpServer(ctx.config.HTTP_SERVER, {
    linger: lingerLimits(ctx.config),
    onHandlerError: answerHandlerError(() => ctx),
  });
  registerAdminRoutes(http, ctx);
  const port = await http.listen(ctx.config.ADMIN_HOST, ctx.config.ADMIN_PORT);
  ctx.log.info({ host: ctx.config.ADMIN_HOST, port }, 'management API listening');
  return { port, close: () => http.closeAll() };
}
