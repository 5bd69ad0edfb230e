/** The `Authorization: Bearer <token>` header (RFC 6750 b64token syntax); the scheme is case-insensitive. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token, or undefined when the header is absent or not a Bearer credential. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header || header.length > 1024) return undefined;
  return BEARER.exec(header)?.[1];
}
