/**
 * Runs a route's handler for either HTTP server so that nothing it throws or rejects can end the process: the
 * server's onHandlerError answers instead (500, logged with the request id), and if even that fails to answer, a
 * bare 500 JSON goes out.
 */
import { errorBody } from '../wire/errors.ts';
import type { Handler, HandlerErrorListener, IncomingRequest, ServerResponse } from './types.ts';

export function runHandler(
  handler: Handler,
  pattern: string,
  req: IncomingRequest,
  res: ServerResponse,
  onError: HandlerErrorListener,
): void {
  const failed = (err: unknown) => {
    try {
      onError(err, req, res, pattern);
    } finally {
      if (!res.answered && !res.aborted) {
        res.send(500, { 'Content-Type': 'application/json' }, JSON.stringify(errorBody('INTERNAL')), true);
      }
    }
  };
  try {
    // Handler returns void, which an async function's promise fits too.
    const done: unknown = handler(req, res);
    if (done instanceof Promise) done.catch(failed);
  } catch (err) {
    failed(err);
  }
}
