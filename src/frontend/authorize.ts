/** Applies an auth guard (src/auth/guard.ts) to a request, before its body is read. */
import type { Guard } from '../auth/guard.ts';
import type { IncomingRequest } from '../http/types.ts';
import type { Answer } from '../http/respond.ts';

/** True when the request may go on; otherwise its refusal (401, 403 or 429) has been answered. */
export function authorize(guard: Guard | undefined, req: IncomingRequest, answer: Answer): boolean {
  if (!guard?.enabled) return true;
  const result = guard.check(req.headers.authorization);
  if (result.keyName !== undefined) answer.keyName = result.keyName;
  if (result.ok) return true;
  // The body is not read: close, the client may still be sending it.
  answer.closeConnection = true;
  answer.error(result.code, undefined, { reason: result.reason }, result.headers);
  return false;
}
