/**
 * One conversation with the assistant, without the DOM: what the widget is doing (its phase), which
 * conversation it talks in, and what to show when. The element wires it to the edge (`EdgeApi`) and to its
 * views; the node tests wire it to a fake edge and a recording view, so every path runs in milliseconds.
 *
 * The phase is the one explicit state that decides what may happen next:
 *
 *   unrestored --restore()--> loadingHistory --loaded/none--> idle
 *        ^                         |
 *        +-------- failed ---------+
 *   unrestored | idle --send()--> sending --first delta--> streaming --done/error--> idle
 *
 * (a turn started before the history was restored goes back to `unrestored` if it could not even create a
 * conversation, so opening the panel still tries to restore). `loadingHistory`, `sending` and `streaming`
 * are busy: another turn or ending the conversation is ignored then, as a double click must not send twice.
 * The satisfaction question is a second, independent region (`survey`): it is open between "End
 * conversation" and its answer or skip, whatever the phase (a quick question may still be asked meanwhile).
 */

import { ApiError, type EdgeApi, type HistoryMessage, type PageContext, type Rating, type TurnDone } from "./api";
import type { Language } from "./gen/assist/v1/common";

// The errors the controller tells apart (by `code`); re-exported so tests build them from the same class.
export { ApiError };

export type Phase = "unrestored" | "loadingHistory" | "idle" | "sending" | "streaming";
export type SurveyState = "closed" | "open";
/** What restoring found, as the host element's `data-history` says it. */
export type HistoryOutcome = "loaded" | "none" | "failed";

const BUSY: ReadonlySet<Phase> = new Set<Phase>(["loadingHistory", "sending", "streaming"]);

/** Events for the host page, in the order they happen; the element fires them as `assist-chat:<name>`. */
export type ConversationEvent =
  | { name: "delta"; detail: { text: string } }
  | { name: "answer"; detail: { messageId: string | undefined; text: string | undefined } }
  | { name: "error"; detail: { code: string; message: string; retryable: boolean } }
  /** The network dropped the answer; the widget is picking it up where it stopped (`attempt` from 1). */
  | { name: "reconnecting"; detail: { attempt: number } }
  | { name: "ended"; detail: { thanked: boolean } };

/** What the controller asks the views to show. Every method is a statement of fact, never a question. */
export interface ConversationView {
  /** The phase changed: busy indicators (typing dots, the send button, `aria-busy`) follow it. */
  phaseChanged(phase: Phase): void;
  /** The stored conversation is being fetched. */
  historyLoading(): void;
  /** Fetching it ended without messages to show (not found, or failed). */
  historyLoadingEnded(): void;
  /** Replace what is shown by these messages, oldest first. */
  historyShown(messages: readonly HistoryMessage[]): void;
  /** Restoring is over (`data-history`). */
  historyOutcome(outcome: HistoryOutcome): void;
  /** Show the empty conversation's hint, unless something is shown. */
  emptyHint(): void;
  /** A turn starts: the empty hint goes, and the person's message is shown (`null` for a retry). */
  turnStarted(text: string | null): void;
  /** More answer text arrived: `answer` is all of it so far. */
  answerGrew(answer: string): void;
  /** The answer is complete and stored: show it whole, with its feedback controls. */
  answerDone(messageId: string, text: string, degraded: readonly string[]): void;
  /** The turn failed: drop the partial answer, if any. */
  answerDropped(): void;
  /** Explain a failure in words; `retry`, when given, tries again. */
  error(code: string, retry: (() => void) | null): void;
  /** Ask the satisfaction question. */
  surveyShown(): void;
  /** The conversation ended; a new, empty one begins (`thanked`: after a satisfaction answer). */
  conversationEnded(thanked: boolean): void;
  /** An event for the host page. */
  notify(event: ConversationEvent): void;
}

/** Where the conversation id of the current user, task and edge is kept across reloads. */
export interface ConversationMemory {
  /** The storage key; needs the user's token (it is per user), so it can fail like any call. */
  key(): Promise<string>;
  load(key: string): string | null;
  save(key: string, id: string | null): void;
}

export interface ConversationDeps {
  api: Pick<EdgeApi, "createConversation" | "listMessages" | "converse" | "submitSatisfaction" | "submitFeedback">;
  memory: ConversationMemory;
  view: ConversationView;
  /** Where the person is: read at each call, since a single-page host changes its URL. */
  pageContext(): PageContext;
  language: Language;
  newClientMessageId(): string;
}

function codeOf(err: unknown, fallback: string): string {
  return err instanceof ApiError ? err.code : fallback;
}

export class Conversation {
  private current: Phase = "unrestored";
  /** The conversation the open satisfaction question is about; null while the question is closed. */
  private surveyFor: string | null = null;
  private conversationId: string | null = null;
  /** Whether the conversation has an answer: only then is the satisfaction question asked. */
  private answered = false;

  constructor(private readonly deps: ConversationDeps) {}

  get phase(): Phase {
    return this.current;
  }

  get survey(): SurveyState {
    return this.surveyFor === null ? "closed" : "open";
  }

  get busy(): boolean {
    return BUSY.has(this.current);
  }

  get id(): string | null {
    return this.conversationId;
  }

  private to(phase: Phase): void {
    if (phase === this.current) return;
    this.current = phase;
    this.deps.view.phaseChanged(phase);
  }

  /** Restore the stored conversation the first time the panel opens (and after a failed restore). */
  async restoreIfNeeded(): Promise<void> {
    if (this.current === "unrestored") await this.restore();
  }

  private async restore(): Promise<void> {
    const { view } = this.deps;
    this.to("loadingHistory");
    let outcome: HistoryOutcome = "none";
    try {
      outcome = await this.loadHistory();
    } finally {
      this.to(outcome === "failed" ? "unrestored" : "idle");
      view.historyOutcome(outcome);
    }
  }

  private async loadHistory(): Promise<HistoryOutcome> {
    const { api, memory, view } = this.deps;
    // Retrying re-reads the stored id; not while a turn runs, which owns the busy phase.
    const retry = (): void => {
      if (!this.busy) void this.restore();
    };
    let key: string;
    try {
      key = await memory.key();
    } catch (err) {
      view.error(codeOf(err, "UNAUTHENTICATED"), retry);
      return "failed";
    }
    const stored = memory.load(key);
    if (!stored || this.conversationId) return "none";
    view.historyLoading();
    try {
      const messages = await api.listMessages(stored);
      this.conversationId = stored;
      this.answered ||= messages.some((m) => m.role === "ROLE_ASSISTANT");
      view.historyShown(messages);
      view.emptyHint();
      return "loaded";
    } catch (err) {
      view.historyLoadingEnded();
      if (err instanceof ApiError && err.code === "NOT_FOUND") {
        memory.save(key, null);
        view.emptyHint();
        return "none";
      }
      view.error(codeOf(err, "NETWORK"), retry);
      return "failed";
    }
  }

  /**
   * Continue a past conversation picked from the list: show its messages and talk in it from now on (it
   * becomes the stored one). Resolves to false when ignored (busy, or the satisfaction question is open)
   * or when its messages could not be loaded (the error is shown; the current conversation stays).
   */
  async openPast(conversationId: string): Promise<boolean> {
    if (this.busy || this.surveyFor !== null) return false;
    const { api, memory, view } = this.deps;
    const before = this.current;
    this.to("loadingHistory");
    view.historyLoading();
    try {
      const messages = await api.listMessages(conversationId);
      this.conversationId = conversationId;
      this.answered = messages.some((m) => m.role === "ROLE_ASSISTANT");
      view.historyShown(messages);
      view.historyOutcome("loaded");
      this.to("idle");
      try {
        memory.save(await memory.key(), conversationId);
      } catch {
        // Not remembered across a reload; the conversation itself is open.
      }
      return true;
    } catch (err) {
      view.historyLoadingEnded();
      view.error(codeOf(err, "NETWORK"), null);
      this.to(before === "unrestored" ? "unrestored" : "idle");
      return false;
    }
  }

  /**
   * Run one turn; ignored while busy. A retry passes the same client message id, so the edge never
   * answers twice, and does not show the person's message again.
   */
  async send(text: string, clientMessageId = this.deps.newClientMessageId(), isRetry = false): Promise<void> {
    if (this.busy) return;
    const { api, view } = this.deps;
    let after: Phase = this.current === "unrestored" ? "unrestored" : "idle";
    this.to("sending");
    view.turnStarted(isRetry ? null : text);
    let answer = "";
    try {
      const conversationId = await this.ensureConversation();
      after = "idle";
      const done = await api.converse(
        conversationId,
        { clientMessageId, text, pageContext: this.deps.pageContext(), languageHint: this.deps.language },
        {
          onAccepted: (data) => {
            // A replayed turn sends the whole answer again: start from empty.
            if (data.replayed) answer = "";
          },
          onDelta: (delta) => {
            answer += delta;
            this.to("streaming");
            view.answerGrew(answer);
            view.notify({ name: "delta", detail: { text: delta } });
          },
          // The text so far stays: the resumed stream sends only what comes after it.
          onReconnecting: (attempt) => view.notify({ name: "reconnecting", detail: { attempt } }),
        },
      );
      this.finish(done, answer);
    } catch (err) {
      view.answerDropped();
      const e = err instanceof ApiError ? err : new ApiError("UNKNOWN", String(err), true);
      if (e.code === "NOT_FOUND") await this.forget();
      view.notify({ name: "error", detail: { code: e.code, message: e.message, retryable: e.retryable } });
      const canRetry = e.retryable || e.code === "NOT_FOUND" || e.code === "UNAUTHENTICATED";
      // Not retryable "too many": the daily allowance is spent (edge/app.py), not a short burst.
      const shown = e.code === "RESOURCE_EXHAUSTED" && !e.retryable ? "DAILY_BUDGET" : e.code;
      view.error(shown, canRetry ? () => void this.send(text, clientMessageId, true) : null);
    } finally {
      this.to(after);
    }
  }

  private finish(done: TurnDone, streamed: string): void {
    this.deps.view.answerDone(done.messageId ?? "", done.text || streamed, done.degradedComponents ?? []);
    this.answered = true;
    this.deps.view.notify({ name: "answer", detail: { messageId: done.messageId, text: done.text } });
  }

  private async ensureConversation(): Promise<string> {
    if (this.conversationId) return this.conversationId;
    const { api, memory } = this.deps;
    const key = await memory.key();
    const id = await api.createConversation(this.deps.pageContext());
    this.conversationId = id;
    memory.save(key, id);
    return id;
  }

  /** Drop the current conversation, here and in storage: the next turn starts a new one. */
  private async forget(): Promise<void> {
    this.conversationId = null;
    this.answered = false;
    try {
      const { memory } = this.deps;
      memory.save(await memory.key(), null);
    } catch {
      // Without a token there is nothing stored under this user either.
    }
  }

  /**
   * "End conversation": when it had an answer, first ask how satisfied the person was; else start over
   * at once. Ignored while busy.
   */
  end(): void {
    if (this.busy) return;
    if (!this.answered || !this.conversationId) {
      void this.startOver(false);
      return;
    }
    this.surveyFor = this.conversationId;
    this.deps.view.surveyShown();
  }

  /**
   * Send the satisfaction answer for the conversation that was current when the question was asked, then
   * start over. Resolves to false when it could not be sent (the question stays, with the error shown).
   */
  async submitSatisfaction(score: number, comment: string): Promise<boolean> {
    if (this.surveyFor === null) return false;
    try {
      await this.deps.api.submitSatisfaction(this.surveyFor, score, comment);
    } catch (err) {
      this.deps.view.error(codeOf(err, "NETWORK"), null);
      return false;
    }
    await this.startOver(true);
    return true;
  }

  /** Leave the satisfaction question unanswered and start over. */
  skipSatisfaction(): Promise<void> {
    return this.startOver(false);
  }

  private async startOver(thanked: boolean): Promise<void> {
    await this.forget();
    this.surveyFor = null;
    this.deps.view.conversationEnded(thanked);
    this.deps.view.notify({ name: "ended", detail: { thanked } });
  }

  /** Rate one answer; rejects when the edge refused or could not be reached. */
  rate(messageId: string, rating: Rating, comment: string): Promise<void> {
    return this.deps.api.submitFeedback(messageId, rating, comment);
  }
}
