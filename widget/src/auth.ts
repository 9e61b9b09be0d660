/**
 * Where the widget gets its bearer token.
 *
 * The host site signs a short-lived JWT for its signed-in user; the widget either receives it as the `token`
 * attribute or fetches it from the host's `token-url` (with the host's cookies). A fetched token is reused
 * until shortly before its `exp`, and fetched again at once when the edge answers 401, so a long-open page
 * keeps working without the host doing anything.
 */

/** Fetch a new token this many seconds before the current one expires. */
const REFRESH_MARGIN_S = 60;

export interface TokenClaims {
  sub: string;
  exp: number;
}

/** Read a JWT's payload without verifying it: the edge verifies; the widget only needs `sub` and `exp`. */
export function decodeClaims(token: string): TokenClaims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "===".slice((b64.length + 3) % 4);
    const json = decodeURIComponent(
      Array.from(atob(padded), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    const claims = JSON.parse(json) as Partial<TokenClaims>;
    return {
      sub: typeof claims.sub === "string" ? claims.sub : "",
      exp: typeof claims.exp === "number" ? claims.exp : 0,
    };
  } catch {
    return null;
  }
}

export class AuthRequiredError extends Error {}

export class TokenSource {
  private token: string | null = null;
  private expiresAt = 0;
  private pending: Promise<string> | null = null;

  constructor(
    private readonly tokenUrl: string | null,
    private readonly fixedToken: string | null,
  ) {}

  /** A token valid for at least the refresh margin; fetched when needed. */
  async get(): Promise<string> {
    const now = Date.now() / 1000;
    if (this.token && (this.expiresAt === 0 || this.expiresAt - now > REFRESH_MARGIN_S)) return this.token;
    if (!this.tokenUrl) {
      if (this.fixedToken) return this.remember(this.fixedToken);
      throw new AuthRequiredError("no token or token-url");
    }
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** The edge refused the token: forget it so the next `get` fetches a new one. */
  invalidate(): void {
    this.token = null;
    this.expiresAt = 0;
  }

  /** Whether `invalidate` then `get` can produce a different token. */
  get canRefresh(): boolean {
    return this.tokenUrl !== null;
  }

  /** The signed-in user's id, from the current token (empty before the first `get`). */
  get userId(): string {
    return this.token ? (decodeClaims(this.token)?.sub ?? "") : "";
  }

  private async fetchToken(): Promise<string> {
    const res = await fetch(this.tokenUrl ?? "", {
      credentials: "include",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (res.status === 401 || res.status === 403) throw new AuthRequiredError(`token-url answered ${res.status}`);
    if (!res.ok) throw new Error(`token-url answered ${res.status}`);
    const body = (await res.json()) as { token?: unknown };
    if (typeof body.token !== "string" || !body.token) throw new AuthRequiredError("token-url gave no token");
    return this.remember(body.token);
  }

  private remember(token: string): string {
    this.token = token;
    this.expiresAt = decodeClaims(token)?.exp ?? 0;
    return token;
  }
}
