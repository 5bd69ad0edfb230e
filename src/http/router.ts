/**
 * Route patterns shared by both servers: exact paths, `:name` segments and a trailing `/*`. uWS matches them
 * itself; node-server.ts matches with `Router`, in uWS's order: a route for the request's own method before an
 * ANY route, and within those an exact path before `:name` segments before `/*`.
 */
import type { Handler, RouteMethod } from './types.ts';

export interface Pattern {
  readonly source: string;
  /** Names of the `:name` segments, in order (uWS hands their values out by index). */
  readonly paramNames: readonly string[];
  /** 0 exact, 1 with `:name` segments, 2 ending in `/*`. */
  readonly rank: number;
  match(path: string): Record<string, string> | undefined;
}

export function compilePattern(source: string): Pattern {
  const segments = source.split('/').slice(1);
  const wildcard = segments.at(-1) === '*';
  const fixed = wildcard ? segments.slice(0, -1) : segments;
  const paramNames = fixed.filter((s) => s.startsWith(':')).map((s) => s.slice(1));
  const rank = wildcard ? 2 : paramNames.length > 0 ? 1 : 0;
  return {
    source,
    paramNames,
    rank,
    match(path) {
      const parts = path.split('/').slice(1);
      if (wildcard ? parts.length < fixed.length : parts.length !== fixed.length) return undefined;
      const params: Record<string, string> = {};
      for (let i = 0; i < fixed.length; i++) {
        const want = fixed[i]!;
        const got = parts[i]!;
        if (want.startsWith(':')) {
          if (got === '') return undefined;
          params[want.slice(1)] = got;
        } else if (want !== got) {
          return undefined;
        }
      }
      return params;
    },
  };
}

/** A `:name` segment's value, percent-decoded; undefined when its escapes are malformed (`%`, `%ZZ`, `%C0%80`). */
export function decodeParam(raw: string | undefined): string | undefined {
  try {
    return decodeURIComponent(raw ?? '');
  } catch {
    return undefined;
  }
}

interface Entry {
  method: RouteMethod;
  pattern: Pattern;
  handler: Handler;
}

export class Router {
  private readonly entries: Entry[] = [];

  add(method: RouteMethod, source: string, handler: Handler): void {
    this.entries.push({ method, pattern: compilePattern(source), handler });
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined {
    let best: { handler: Handler; params: Record<string, string>; score: number } | undefined;
    for (const e of this.entries) {
      if (e.method !== method && e.method !== 'ANY') continue;
      const score = (e.method === 'ANY' ? 10 : 0) + e.pattern.rank;
      if (best && best.score <= score) continue;
      const params = e.pattern.match(path);
      if (params) best = { handler: e.handler, params, score };
    }
    return best;
  }
}
