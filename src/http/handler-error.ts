/**
 * The answer to a route whose handler threw or rejected (http/run-handler.ts): 500 INTERNAL in the route's error
 * shape, the error and its stack logged with the request id, and the process goes on.
 */
import type { HandlerErrorListener } from './types.ts';
import type { Access } from './access.ts';
import { Answer } from './respond.ts';
import { routeOf } from './route-labels.ts';

export function answerHandlerError(access: () => Access): HandlerErrorListener {
  return (err, req, res, pattern) => {
    const answer = new Answer(res, req, routeOf(pattern), access());
    if (pattern.startsWith('/v2')) answer.errorShape = 'protocol';
    // The handler may have left the body unread: the connection goes.
    answer.closeConnection = true;
    const { message, stack } = err instanceof Error ? err : { message: String(err), stack: undefined };
    access().log.error({ reqId: answer.id, route: pattern, err: message, stack }, 'route handler failed');
    answer.error('INTERNAL');
  };
}
