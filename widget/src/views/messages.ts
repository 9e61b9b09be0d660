/**
 * The conversation as shown: the log of messages (the person's, the assistant's with its feedback
 * controls, errors with their "Try again" button, hints) and the typing indicator below it. It draws what
 * the conversation controller says happened and decides nothing itself.
 */

import type { HistoryMessage } from "../api";
import { h } from "../dom";
import { errorText, type Strings } from "../i18n";
import { renderMarkdown } from "../markdown";
import { feedbackControls, type SubmitFeedback } from "./feedback";

interface BotBubble {
  wrap: HTMLElement;
  body: HTMLElement;
}

export class MessageLog {
  readonly log: HTMLElement;
  readonly typing: HTMLElement;
  /** The answer being streamed, until it is done or dropped. */
  private streaming: BotBubble | null = null;
  private loading: HTMLElement | null = null;

  constructor(
    private readonly s: Strings,
    private readonly taskMode: boolean,
    private readonly rate: (messageId: string) => SubmitFeedback,
  ) {
    this.log = h("div", {
      id: "log",
      role: "log",
      "aria-live": "polite",
      "aria-busy": "false",
      "aria-label": s.title,
      tabindex: "0",
    });
    this.typing = h(
      "div",
      { id: "typing", role: "status", hidden: true },
      h("span", { class: "dot" }),
      h("span", { class: "dot" }),
      h("span", { class: "dot" }),
      h("span", { class: "sr" }, s.typing),
    );
  }

  /** While a turn runs the log is busy and shows typing dots until the answer's first words. */
  busy(waiting: boolean, streaming: boolean): void {
    this.typing.hidden = !waiting;
    this.log.setAttribute("aria-busy", String(waiting || streaming));
    this.scrollToEnd();
  }

  scrollToEnd(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  emptyHint(): void {
    if (this.log.childElementCount) return;
    this.log.append(h("p", { class: "hint" }, this.taskMode ? this.s.emptyTask : this.s.empty));
  }

  historyLoading(): void {
    this.loading = h("p", { class: "hint" }, this.s.loadingHistory);
    this.log.replaceChildren(this.loading);
  }

  historyLoadingEnded(): void {
    this.loading?.remove();
    this.loading = null;
  }

  historyShown(messages: readonly HistoryMessage[]): void {
    this.loading = null;
    this.log.replaceChildren();
    for (const m of messages) {
      if (m.role === "ROLE_USER") {
        this.log.append(this.userBubble(m.text ?? ""));
      } else if (m.role === "ROLE_ASSISTANT") {
        this.finish(this.botBubble(), m.messageId ?? "", m.text ?? "", m.degradedComponents ?? [], m.feedbackRating);
      }
    }
  }

  turnStarted(text: string | null): void {
    this.log.querySelector(".hint")?.remove();
    if (text !== null) this.log.append(this.userBubble(text));
    this.scrollToEnd();
  }

  answerGrew(answer: string): void {
    this.streaming ??= this.botBubble();
    renderMarkdown(this.streaming.body, answer);
    this.scrollToEnd();
  }

  answerDone(messageId: string, text: string, degraded: readonly string[]): void {
    this.finish(this.streaming ?? this.botBubble(), messageId, text, degraded);
    this.streaming = null;
  }

  answerDropped(): void {
    this.streaming?.wrap.remove();
    this.streaming = null;
  }

  error(code: string, retry: (() => void) | null): void {
    const box = h("div", { class: "msg error", role: "alert" }, h("p", {}, errorText(this.s, code)));
    if (retry) {
      const button = h("button", { type: "button", class: "btn" }, this.s.retry);
      button.addEventListener("click", () => {
        box.remove();
        retry();
      });
      box.append(button);
    }
    this.log.append(box);
    this.scrollToEnd();
  }

  /** A new conversation: an empty log with its hint, or the thanks for a satisfaction answer. */
  cleared(thanked: boolean): void {
    this.log.replaceChildren();
    if (thanked) this.log.append(h("p", { class: "hint", role: "status" }, this.s.satisfactionThanks));
    else this.emptyHint();
  }

  private userBubble(text: string): HTMLElement {
    return h("div", { class: "msg user" }, h("span", { class: "sr" }, `${this.s.you}: `), h("div", { class: "bubble" }, text));
  }

  private botBubble(): BotBubble {
    const body = h("div", { class: "bubble md" });
    const wrap = h("div", { class: "msg bot" }, h("span", { class: "sr" }, `${this.s.assistant}: `), body);
    this.log.append(wrap);
    return { wrap, body };
  }

  private finish(bubble: BotBubble, messageId: string, text: string, degraded: readonly string[], rating?: string): void {
    bubble.wrap.dataset.messageId = messageId;
    renderMarkdown(bubble.body, text);
    if (degraded.length) bubble.wrap.append(h("p", { class: "note" }, this.s.degraded));
    bubble.wrap.append(feedbackControls(this.s, messageId, rating, this.rate(messageId)));
  }
}
