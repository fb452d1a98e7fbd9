/**
 * Gateway routes as the Rego reads them: each route with the literal prefix of its path glob
 * (`literal_prefix`, the text before the first glob metacharacter; the whole path when it has
 * none), computed once per load instead of per request. policies/agent/gateway.rego globs a path
 * only when it starts with that prefix (glob.match compiles its pattern on every call).
 */
const METACHARACTERS = ['*', '?', '[', '{', '\\'];

export function literalPrefix(pattern: string): string {
  const at = METACHARACTERS.map((c) => pattern.indexOf(c)).filter((i) => i >= 0);
  return at.length === 0 ? pattern : pattern.slice(0, Math.min(...at));
}

/** A copy of a validated gateway-routes document, each route with a string path given its prefix. */
export function withLiteralPrefixes<T extends { routes: object[] }>(doc: T): T {
  return {
    ...doc,
    routes: doc.routes.map((r) => {
      const p = (r as { path?: unknown }).path;
      return typeof p === 'string' ? { ...r, literal_prefix: literalPrefix(p) } : r;
    }),
  };
}
