/** Applies an auth guard (src/auth/guard.ts) to a request of either protocol, before its body is read. */
import type { Guard } from '../auth/guard.ts';
import type { Exchange } from '../http/exchange.ts';
import type { IncomingRequest } from '../http/types.ts';
import type { Answer } from '../http/respond.ts';

/** Checks the request's API key (and its rate limit); false when refused, the refusal answered. */
export function checkKey(guard: Guard | undefined, authorization: string | undefined, exchange: Exchange): boolean {
  if (!guard?.enabled) return true;
  const result = guard.check(authorization);
  if (result.keyName !== undefined) exchange.setKeyName(result.keyName);
  if (result.ok) return true;
  exchange.error(result.code, undefined, { reason: result.reason }, result.headers);
  return false;
}

/** REST: true when the request may go on; otherwise its refusal (401, 403 or 429) has been answered. */
export function authorize(guard: Guard | undefined, req: IncomingRequest, answer: Answer): boolean {
  if (!guard?.enabled) return true;
  // A refusal does not read the body: close, the client may still be sending it.
  const closeBefore = answer.closeConnection;
  answer.closeConnection = true;
  if (!checkKey(guard, req.headers.authorization, answer)) return false;
  answer.closeConnection = closeBefore;
  return true;
}
