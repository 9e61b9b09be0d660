/**
 * The edge's HTTP API as the widget uses it (routes from `protos/assist/v1/coordinator.proto`, bodies in
 * protobuf's JSON mapping).
 *
 * Every call carries the bearer token and is retried once with a fresh token after a 401, since a
 * token can expire between two messages. Errors become `ApiError` with the edge's gRPC code name, so the UI
 * can say what happened in words and knows whether a retry makes sense.
 */

import { AuthRequiredError, type TokenSource } from "./auth";
import type { FeedbackRating, Message, PageContext } from "./gen/assist/v1/common";
import type {
  ConverseRequest,
  CreateConversationRequest,
  CreateConversationResponse,
  GetWidgetConfigResponse,
  ConversationSummary,
  ListConversationsResponse,
  ListMessagesResponse,
  StudyRecord,
  SubmitFeedbackRequest,
  SubmitSatisfactionRequest,
  TextDelta,
  TurnAccepted,
  TurnDone,
  TurnError,
} from "./gen/assist/v1/coordinator";
import { SseParser } from "./sse";

// The bodies are the generated contract types (src/gen/, `npm run gen`): every field is optional there
// because the edge leaves out fields that hold their default value.
export type { Message as HistoryMessage, PageContext } from "./gen/assist/v1/common";
export type { TurnAccepted, TurnDone } from "./gen/assist/v1/coordinator";

/** One page of the person's conversations, newest first; `nextPageToken` is "" on the last page. */
export interface PastPage {
  conversations: ConversationSummary[];
  nextPageToken: string;
}

/** The two ratings a person can give; the contract's UNSPECIFIED is refused by the edge. */
export type Rating = Exclude<FeedbackRating, "FEEDBACK_RATING_UNSPECIFIED">;

export interface TurnHandlers {
  onAccepted?(data: TurnAccepted): void;
  onDelta(text: string): void;
  /** The network dropped the answer's stream; it is picked up again (`attempt` counts from 1). */
  onReconnecting?(attempt: number): void;
}

/** One turn as the widget sends it: the conversation id travels in the URL, not the body. */
export type TurnRequest = Required<Pick<ConverseRequest, "clientMessageId" | "text" | "pageContext" | "languageHint">>;

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    /** Whether the turn was accepted before it failed (its user message is stored). */
    readonly accepted = false,
  ) {
    super(message);
  }
}

/** No bytes from the edge for this long during a turn: give up and offer a retry. */
const STREAM_IDLE_MS = 45_000;

/**
 * The pauses before picking a dropped answer up again: the message is resent with `Last-Event-ID`, so the
 * edge sends only what was missed (never a second turn, never text twice). Spaced out so a flapping network
 * or a restarting edge is not hammered; after the last one the person gets the error and a Retry button.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = [250, 1000, 2000, 4000, 8000];

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function errorFrom(res: Response): Promise<ApiError> {
  let code = res.status === 401 ? "UNAUTHENTICATED" : res.status >= 500 ? "UNAVAILABLE" : "UNKNOWN";
  let message = `HTTP ${res.status}`;
  let retryable = res.status >= 500 || res.status === 429;
  try {
    // The edge's error body carries the same fields as the contract's TurnError (edge/errors.py).
    const body = (await res.json()) as { error?: TurnError };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      retryable = body.error.retryable ?? retryable;
    }
  } catch {
    // Not JSON (a proxy's error page): the status decides.
  }
  return new ApiError(code, message, retryable);
}

export class EdgeApi {
  constructor(
    private readonly base: string,
    private readonly tokens: TokenSource,
    /** How the reconnection pauses are waited (tests pass one that does not wait). */
    private readonly sleep: (ms: number) => Promise<void> = pause,
  ) {}

  private async call(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let token: string;
      try {
        token = await this.tokens.get();
      } catch (err) {
        if (err instanceof AuthRequiredError) throw new ApiError("UNAUTHENTICATED", err.message, true);
        throw new ApiError("NETWORK", String(err), true);
      }
      const headers: Record<string, string> = {
        ...extraHeaders,
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
      };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let res: Response;
      try {
        res = await fetch(this.base + path, {
          method,
          headers,
          body: body === undefined ? null : JSON.stringify(body),
          signal: signal ?? null,
          cache: "no-store",
        });
      } catch (err) {
        throw new ApiError("NETWORK", String(err), true);
      }
      if (res.status === 401 && attempt === 0 && this.tokens.canRefresh) {
        this.tokens.invalidate();
        continue;
      }
      if (!res.ok) throw await errorFrom(res);
      return res;
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.call(method, path, body);
    return (await res.json()) as T;
  }

  /**
   * What the edge says the widget should do for the signed-in user: shown at all (the rollout; only
   * `enabled: true` is a yes) and in study mode (the `study-mode` flag; only `study: true` is a yes).
   */
  async widgetConfig(): Promise<{ enabled: boolean; study: boolean }> {
    const out = await this.json<GetWidgetConfigResponse>("GET", "/v1/widget/config");
    return { enabled: out.enabled === true, study: out.enabled === true && out.study === true };
  }

  async createConversation(pageContext: PageContext): Promise<string> {
    const body: CreateConversationRequest = { pageContext };
    const out = await this.json<CreateConversationResponse>("POST", "/v1/conversations", body);
    const id = out.conversation?.conversationId;
    if (!id) throw new ApiError("UNKNOWN", "no conversation id", true);
    return id;
  }

  async listConversations(pageToken = ""): Promise<PastPage> {
    const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : "";
    const out = await this.json<ListConversationsResponse>("GET", `/v1/conversations${query}`);
    return { conversations: out.conversations ?? [], nextPageToken: out.nextPageToken ?? "" };
  }

  async listMessages(conversationId: string): Promise<Message[]> {
    const out = await this.json<ListMessagesResponse>(
      "GET",
      `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
    );
    return out.messages ?? [];
  }

  /** Store usability-study records (study mode); the server stores a resent record once. */
  async recordStudyEvents(records: StudyRecord[]): Promise<void> {
    await this.json<unknown>("POST", "/v1/study/events", { records });
  }

  async submitFeedback(messageId: string, rating: Rating, comment: string): Promise<void> {
    const body: Omit<SubmitFeedbackRequest, "messageId"> = { rating, comment };
    await this.json("POST", `/v1/messages/${encodeURIComponent(messageId)}/feedback`, body);
  }

  async submitSatisfaction(conversationId: string, score: number, comment: string): Promise<void> {
    const body: Omit<SubmitSatisfactionRequest, "conversationId"> = { score, comment };
    await this.json("POST", `/v1/conversations/${encodeURIComponent(conversationId)}/satisfaction`, body);
  }

  /**
   * Run one turn and resolve with its `done` event. The answer arrives through `handlers.onDelta` as it is
   * generated. When the network drops the stream, the message is resent with the last event id received
   * (`Last-Event-ID`) and only the events after it arrive (RECONNECT_DELAYS_MS); a server that no longer
   * knows that event is asked for the whole answer again, which it replays (`accepted.replayed`). Rejects
   * with `ApiError` on an `error` event, a refused request, a stream that stalls, or when reconnecting
   * gave up.
   */
  async converse(conversationId: string, request: TurnRequest, handlers: TurnHandlers): Promise<TurnDone> {
    const progress: StreamProgress = { lastEventId: "", accepted: false };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.streamTurn(conversationId, request, handlers, progress);
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError("UNKNOWN", String(err), true, progress.accepted);
        if (e.code === "FAILED_PRECONDITION" && progress.lastEventId) {
          progress.lastEventId = ""; // the event is no longer kept: ask for the stored answer instead
        } else if (e.code !== "NETWORK" || attempt >= RECONNECT_DELAYS_MS.length) {
          throw e;
        }
        handlers.onReconnecting?.(attempt + 1);
        await this.sleep(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)] ?? 0);
      }
    }
  }

  /** One request of a turn: from the start, or after `progress.lastEventId`, which it keeps up to date. */
  private async streamTurn(
    conversationId: string,
    request: TurnRequest,
    handlers: TurnHandlers,
    progress: StreamProgress,
  ): Promise<TurnDone> {
    const abort = new AbortController();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
    };
    touch();
    try {
      const res = await this.call(
        "POST",
        `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
        request,
        abort.signal,
        progress.lastEventId ? { "Last-Event-ID": progress.lastEventId } : {},
      );
      const type = res.headers.get("Content-Type") ?? "";
      if (!type.startsWith("text/event-stream") || !res.body) {
        throw new ApiError("UNKNOWN", `unexpected response type ${type}`, true);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          const code = abort.signal.aborted ? "DEADLINE_EXCEEDED" : "NETWORK";
          throw new ApiError(code, String(err), true, progress.accepted);
        }
        touch();
        const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
        for (const event of parser.push(text)) {
          // Each event's data is the JSON of the ConverseResponse oneof member it is named after.
          const data: unknown = JSON.parse(event.data);
          // Kept before the event is handled: a drop right after it resumes after it, not before.
          if (event.id) progress.lastEventId = event.id;
          switch (event.event) {
            case "accepted":
              progress.accepted = true;
              handlers.onAccepted?.(data as TurnAccepted);
              break;
            case "delta": {
              const { text } = data as TextDelta;
              if (typeof text === "string") handlers.onDelta(text);
              break;
            }
            case "done":
              void reader.cancel().catch(() => undefined);
              return data as TurnDone;
            case "error": {
              const error = data as TurnError;
              const retryable = error.retryable === true;
              throw new ApiError(error.code ?? "UNKNOWN", error.message ?? "", retryable, progress.accepted);
            }
            default:
            // `intent` and any event a newer edge adds are not shown.
          }
        }
        if (chunk.done) throw new ApiError("NETWORK", "the answer stream ended early", true, progress.accepted);
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(abort.signal.aborted ? "DEADLINE_EXCEEDED" : "NETWORK", String(err), true, progress.accepted);
    } finally {
      clearTimeout(idle);
    }
  }
}

/** What one turn's requests have received so far, shared across its reconnections. */
interface StreamProgress {
  lastEventId: string;
  accepted: boolean;
}
