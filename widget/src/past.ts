/**
 * The list of the person's past conversations, without the DOM: which page is loaded, whether there is a
 * next one, and how each line reads. Past chats the host imported (`import-history`) are listed with the
 * person's own, marked as imported. The element wires it to the edge and to `views/past.ts`; the node tests
 * wire it to a fake edge and a recording view.
 *
 *   closed --open()--> loading --page--> shown --more()--> loading --page--> shown (appended)
 *                         |                                   |
 *                         +------------ error --> failed <----+   (open() tries again)
 */

import { ApiError, type EdgeApi, type PastPage } from "./api";
import type { ConversationSummary } from "./gen/assist/v1/coordinator";

// Re-exported so tests build errors from the same class (each test module is bundled on its own).
export { ApiError };

export type PastState = "closed" | "loading" | "shown" | "failed";

/** One line of the list, ready to show. */
export interface PastItem {
  conversationId: string;
  /** The first question asked in it, or `untitled` when it had none. */
  label: string;
  /** When it started, as the person's locale writes a date ("" when unknown). */
  date: string;
  imported: boolean;
  /** The conversation the widget is in now. */
  current: boolean;
}

export interface PastView {
  loading(): void;
  /** Replace the list by these items; `hasMore` shows the "show more" button. */
  shown(items: readonly PastItem[], hasMore: boolean): void;
  failed(code: string): void;
}

export interface PastDeps {
  api: Pick<EdgeApi, "listConversations">;
  view: PastView;
  /** The conversation the widget is in now, to mark it in the list. */
  currentId(): string | null;
  locale: string;
  untitled: string;
}

/** How one summary reads in the list. */
export function pastItem(summary: ConversationSummary, deps: Pick<PastDeps, "locale" | "untitled">, currentId: string | null): PastItem {
  const id = summary.conversation?.conversationId ?? "";
  const created = summary.conversation?.createTime;
  let date = "";
  if (created) {
    const when = new Date(created);
    if (!Number.isNaN(when.getTime())) date = new Intl.DateTimeFormat(deps.locale, { dateStyle: "medium" }).format(when);
  }
  return {
    conversationId: id,
    label: summary.preview?.trim() || deps.untitled,
    date,
    imported: summary.imported === true,
    current: id !== "" && id === currentId,
  };
}

export class PastConversations {
  private current: PastState = "closed";
  private summaries: ConversationSummary[] = [];
  private nextToken = "";

  constructor(private readonly deps: PastDeps) {}

  get state(): PastState {
    return this.current;
  }

  get hasMore(): boolean {
    return this.nextToken !== "";
  }

  /** Load the first page again (the list may have grown since it was last shown). */
  async open(): Promise<void> {
    if (this.current === "loading") return;
    this.summaries = [];
    this.nextToken = "";
    await this.load("");
  }

  /** Append the next page; ignored when there is none or a page is on its way. */
  async more(): Promise<void> {
    if (this.current !== "shown" || !this.nextToken) return;
    await this.load(this.nextToken);
  }

  close(): void {
    this.current = "closed";
  }

  private async load(token: string): Promise<void> {
    const { api, view } = this.deps;
    this.current = "loading";
    view.loading();
    let page: PastPage;
    try {
      page = await api.listConversations(token);
    } catch (err) {
      this.current = "failed";
      view.failed(err instanceof ApiError ? err.code : "NETWORK");
      return;
    }
    if (this.current !== "loading") return; // closed meanwhile
    const seen = new Set(this.summaries.map((s) => s.conversation?.conversationId));
    this.summaries.push(...page.conversations.filter((s) => !seen.has(s.conversation?.conversationId)));
    this.nextToken = page.nextPageToken;
    this.current = "shown";
    const currentId = this.deps.currentId();
    view.shown(
      this.summaries.map((s) => pastItem(s, this.deps, currentId)),
      this.hasMore,
    );
  }
}
