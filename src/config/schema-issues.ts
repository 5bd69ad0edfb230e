/** One wording for every schema failure a person reads: configuration, model metadata, model config. */
import type { z } from 'zod';

type IssuePath = z.core.$ZodIssue['path'];

const dotted = (path: IssuePath): string => path.map(String).join('.') || '(root)';

/** "where: what" for each issue; `where` names the failing field (dotted path by default). */
export function issueLines(error: z.ZodError, where: (path: IssuePath) => string = dotted): string[] {
  return error.issues.map((i) => `${where(i.path)}: ${i.message}`);
}
