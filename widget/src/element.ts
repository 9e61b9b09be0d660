/**
 * `<assist-chat>`: the launcher, the panel and one conversation with the assistant.
 *
 * Attributes: `edge-url` (default: same origin), `locale` (`pt-BR` | `en`, default: the browser's),
 * `theme` (`light` | `dark`), `task-id` and `task-title` (contextual mode on a task page), and `token-url`
 * or `token` for auth. The element fires `assist-chat:open`, `assist-chat:close`, `assist-chat:delta`,
 * `assist-chat:answer` and `assist-chat:error` events so a host page (and the browser tests) can follow it.
 */

import { EdgeApi, ApiError, type HistoryMessage, type Rating } from "./api";
import { TokenSource } from "./auth";
import { focusables, h, icon, ICONS } from "./dom";
import { errorText, languageHint, resolveLocale, strings, type Locale, type Strings } from "./i18n";
import { renderMarkdown } from "./markdown";
import { conversationKey, loadConversationId, newClientMessageId, saveConversationId } from "./store";
import { STYLES } from "./styles";

export class AssistChat extends HTMLElement {
  static observedAttributes = ["locale", "theme", "task-id", "task-title", "edge-url", "token", "token-url"];

  private readonly root: ShadowRoot;
  private locale: Locale = "en";
  private s: Strings = strings("en");
  private api: EdgeApi | null = null;
  private tokens: TokenSource | null = null;
  private conversationId: string | null = null;
  private historyLoaded = false;
  private answered = false;
  private busy = false;
  private built = false;

  private launcher!: HTMLButtonElement;
  private panel!: HTMLElement;
  private log!: HTMLElement;
  private typing!: HTMLElement;
  private input!: HTMLTextAreaElement;
  private sendButton!: HTMLButtonElement;
  private survey!: HTMLElement;
  private composer!: HTMLElement;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    this.root.addEventListener("keydown", (e) => this.onKey(e as KeyboardEvent));
  }

  connectedCallback(): void {
    if (!this.built) this.build();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (!this.built || old === value) return;
    if (name === "theme") return;
    // Anything else changes what the widget is about or whom it talks to: start over.
    const open = !this.panel.hidden;
    this.root.replaceChildren();
    this.reset();
    this.build();
    if (open) void this.open();
  }

  private reset(): void {
    this.api = null;
    this.tokens = null;
    this.conversationId = null;
    this.historyLoaded = false;
    this.answered = false;
    this.busy = false;
  }

  private get taskId(): string {
    return (this.getAttribute("task-id") ?? "").trim();
  }

  private get edgeBase(): string {
    return (this.getAttribute("edge-url") ?? "").replace(/\/+$/, "");
  }

  private build(): void {
    this.built = true;
    this.locale = resolveLocale(this.getAttribute("locale"), navigator.language);
    this.s = strings(this.locale);
    this.tokens = new TokenSource(this.getAttribute("token-url"), this.getAttribute("token"));
    this.api = new EdgeApi(this.edgeBase, this.tokens);
    const s = this.s;
    const taskTitle = this.getAttribute("task-title") ?? "";

    this.launcher = h("button", {
      id: "launcher",
      part: "launcher",
      type: "button",
      "aria-expanded": "false",
      "aria-controls": "panel",
      "aria-label": s.launcherOpen,
    });
    this.launcher.append(icon(ICONS.chat));
    this.launcher.addEventListener("click", () => void (this.panel.hidden ? this.open() : this.close()));

    const context = this.taskId
      ? h("p", { id: "context" }, `${s.aboutTask} `, h("b", {}, this.taskId), taskTitle ? `: ${taskTitle}` : "")
      : h("p", { id: "context" }, s.general);
    const endButton = h("button", { type: "button", class: "icon", id: "end", "aria-label": s.newConversation });
    endButton.title = s.newConversation;
    endButton.append(icon(ICONS.end));
    endButton.addEventListener("click", () => this.endConversation());
    const closeButton = h("button", { type: "button", class: "icon", id: "close", "aria-label": s.close });
    closeButton.title = s.close;
    closeButton.append(icon(ICONS.close));
    closeButton.addEventListener("click", () => this.close());

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

    const quick = this.taskId
      ? h(
          "div",
          { id: "quick", role: "group", "aria-label": s.quickActions },
          ...(
            [
              [s.quickSummarize, s.askSummarize],
              [s.quickBlockers, s.askBlockers],
              [s.quickDue, s.askDue],
            ] as const
          ).map(([label, question]) => {
            const b = h("button", { type: "button", class: "btn ghost" }, label);
            b.addEventListener("click", () => void this.send(question));
            return b;
          }),
        )
      : null;

    this.input = h("textarea", { id: "input", rows: "2", placeholder: s.placeholder, maxlength: "4000" });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submitInput();
      }
    });
    this.sendButton = h("button", { id: "send", type: "submit", "aria-label": s.send });
    this.sendButton.append(icon(ICONS.send));
    this.composer = h(
      "form",
      { id: "composer" },
      h("label", { for: "input", class: "sr" }, s.inputLabel),
      this.input,
      this.sendButton,
    );
    this.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submitInput();
    });
    this.survey = h("div", { id: "satisfaction", hidden: true });

    this.panel = h(
      "section",
      { id: "panel", part: "panel", role: "dialog", "aria-labelledby": "title", "aria-describedby": "context", hidden: true },
      h("div", { class: "head" }, h("div", { class: "heading" }, h("h2", { id: "title" }, s.title), context), endButton, closeButton),
      this.log,
      this.typing,
      quick,
      this.composer,
      this.survey,
    );
    this.root.append(h("style", {}, STYLES), this.launcher, this.panel);
    this.showHint();
  }

  private emit(name: string, detail: unknown = null): void {
    this.dispatchEvent(new CustomEvent(`assist-chat:${name}`, { detail, bubbles: true, composed: true }));
  }

  /** Open the panel, restoring the stored conversation the first time. */
  async open(): Promise<void> {
    this.panel.hidden = false;
    this.setAttribute("data-open", "");
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", this.s.launcherClose);
    this.input.focus();
    this.emit("open");
    if (!this.historyLoaded) await this.restore();
  }

  /** Hide the panel (the conversation goes on) and give focus back to the launcher. */
  close(): void {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.removeAttribute("data-open");
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", this.s.launcherOpen);
    this.launcher.focus();
    this.emit("close");
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.built || this.panel.hidden) return;
    if (e.key === "Escape") {
      e.preventDefault();
      this.close();
      return;
    }
    if (e.key !== "Tab" || !this.panel.contains(this.root.activeElement)) return;
    // Keep Tab inside the panel while it is open: the launcher and page are one Escape away.
    const items = focusables(this.panel);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    const active = this.root.activeElement;
    if (e.shiftKey && active === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }

  private async storageKey(): Promise<string> {
    await this.tokens?.get();
    return conversationKey(this.edgeBase, this.tokens?.userId ?? "", this.taskId);
  }

  /** Show the stored conversation, if any. Sets `data-history` on the host when done (for hosts and tests). */
  private async restore(): Promise<void> {
    this.historyLoaded = true;
    this.busy = true;
    let outcome = "none";
    try {
      outcome = await this.loadHistory();
    } finally {
      this.busy = false;
      this.setAttribute("data-history", outcome);
      this.scrollToEnd();
    }
  }

  private async loadHistory(): Promise<string> {
    let key: string;
    try {
      key = await this.storageKey();
    } catch (err) {
      this.historyLoaded = false;
      this.showError(err instanceof ApiError ? err.code : "UNAUTHENTICATED", () => void this.restore());
      return "failed";
    }
    const stored = loadConversationId(key);
    if (!stored || this.conversationId) return "none";
    const loading = h("p", { class: "hint" }, this.s.loadingHistory);
    this.log.replaceChildren(loading);
    try {
      const messages = (await this.api?.listMessages(stored)) ?? [];
      this.conversationId = stored;
      this.log.replaceChildren();
      for (const m of messages) this.renderHistoryMessage(m);
      this.showHint();
      return "loaded";
    } catch (err) {
      loading.remove();
      if (err instanceof ApiError && err.code === "NOT_FOUND") {
        saveConversationId(key, null);
        this.showHint();
        return "none";
      }
      this.historyLoaded = false;
      this.showError(err instanceof ApiError ? err.code : "NETWORK", () => void this.restore());
      return "failed";
    }
  }

  private renderHistoryMessage(m: HistoryMessage): void {
    if (m.role === "ROLE_USER") {
      this.log.append(this.userBubble(m.text ?? ""));
    } else if (m.role === "ROLE_ASSISTANT") {
      const bubble = this.botBubble();
      this.finishBotBubble(bubble, m.messageId ?? "", m.text ?? "", m.degradedComponents ?? [], m.feedbackRating);
      this.answered = true;
    }
  }

  private showHint(): void {
    if (this.log.childElementCount) return;
    this.log.append(h("p", { class: "hint" }, this.taskId ? this.s.emptyTask : this.s.empty));
  }

  private scrollToEnd(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  private submitInput(): void {
    const text = this.input.value.trim();
    if (!text || this.busy) return;
    this.input.value = "";
    void this.send(text);
  }

  private userBubble(text: string): HTMLElement {
    return h("div", { class: "msg user" }, h("span", { class: "sr" }, `${this.s.you}: `), h("div", { class: "bubble" }, text));
  }

  private botBubble(): { wrap: HTMLElement; body: HTMLElement } {
    const body = h("div", { class: "bubble md" });
    const wrap = h("div", { class: "msg bot" }, h("span", { class: "sr" }, `${this.s.assistant}: `), body);
    this.log.append(wrap);
    return { wrap, body };
  }

  private finishBotBubble(
    bubble: { wrap: HTMLElement; body: HTMLElement },
    messageId: string,
    text: string,
    degraded: string[],
    rating?: string,
  ): void {
    bubble.wrap.dataset.messageId = messageId;
    renderMarkdown(bubble.body, text);
    if (degraded.length) bubble.wrap.append(h("p", { class: "note" }, this.s.degraded));
    bubble.wrap.append(this.feedbackControls(messageId, rating));
  }

  /** Run one turn. A retry passes the same client message id, so the edge never answers twice. */
  async send(text: string, clientMessageId = newClientMessageId(), isRetry = false): Promise<void> {
    if (this.busy || !this.api) return;
    this.busy = true;
    this.sendButton.disabled = true;
    this.log.querySelector(".hint")?.remove();
    if (!isRetry) this.log.append(this.userBubble(text));
    this.typing.hidden = false;
    this.log.setAttribute("aria-busy", "true");
    this.scrollToEnd();
    let bubble: { wrap: HTMLElement; body: HTMLElement } | null = null;
    let answer = "";
    try {
      const conversationId = await this.ensureConversation();
      const done = await this.api.converse(
        conversationId,
        {
          clientMessageId,
          text,
          pageContext: { taskId: this.taskId, pageUrl: location.href },
          languageHint: languageHint(this.locale),
        },
        {
          onAccepted: (data) => {
            // A replayed turn sends the whole answer again: start from empty.
            if (data.replayed) answer = "";
          },
          onDelta: (delta) => {
            answer += delta;
            bubble ??= this.botBubble();
            this.typing.hidden = true;
            renderMarkdown(bubble.body, answer);
            this.scrollToEnd();
            this.emit("delta", { text: delta });
          },
        },
      );
      bubble ??= this.botBubble();
      this.finishBotBubble(bubble, done.messageId ?? "", done.text || answer, done.degradedComponents ?? []);
      this.answered = true;
      this.emit("answer", { messageId: done.messageId, text: done.text });
    } catch (err) {
      (bubble as { wrap: HTMLElement } | null)?.wrap.remove();
      const e = err instanceof ApiError ? err : new ApiError("UNKNOWN", String(err), true);
      if (e.code === "NOT_FOUND") await this.forgetConversation();
      this.emit("error", { code: e.code, message: e.message, retryable: e.retryable });
      const canRetry = e.retryable || e.code === "NOT_FOUND" || e.code === "UNAUTHENTICATED";
      this.showError(e.code, canRetry ? () => void this.send(text, clientMessageId, true) : null);
    } finally {
      this.busy = false;
      this.sendButton.disabled = false;
      this.typing.hidden = true;
      this.log.setAttribute("aria-busy", "false");
      this.scrollToEnd();
    }
  }

  private async ensureConversation(): Promise<string> {
    if (this.conversationId) return this.conversationId;
    const key = await this.storageKey();
    const id = await (this.api as EdgeApi).createConversation({ taskId: this.taskId, pageUrl: location.href });
    this.conversationId = id;
    this.historyLoaded = true;
    saveConversationId(key, id);
    return id;
  }

  private async forgetConversation(): Promise<void> {
    this.conversationId = null;
    this.answered = false;
    try {
      saveConversationId(await this.storageKey(), null);
    } catch {
      // Without a token there is nothing stored under this user either.
    }
  }

  private showError(code: string, retry: (() => void) | null): void {
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

  private feedbackControls(messageId: string, rating?: string): HTMLElement {
    const s = this.s;
    const status = h("span", { class: "status", role: "status" });
    const make = (value: Rating, label: string, transform: string): HTMLButtonElement => {
      const b = h("button", { type: "button", class: "icon", "aria-label": label, "aria-pressed": String(rating === value) });
      b.title = label;
      b.dataset.rating = value === "FEEDBACK_RATING_UP" ? "up" : "down";
      b.append(icon(ICONS.thumb, transform));
      return b;
    };
    const up = make("FEEDBACK_RATING_UP", s.helpful, "");
    const down = make("FEEDBACK_RATING_DOWN", s.notHelpful, "rotate(180 12 12)");
    const comment = h("textarea", { rows: "2", maxlength: "2000", id: `fc-${messageId}` });
    const sendComment = h("button", { type: "submit", class: "btn" }, s.feedbackSend);
    const cancel = h("button", { type: "button", class: "btn ghost" }, s.feedbackCancel);
    const form = h(
      "form",
      { class: "comment", hidden: true },
      h("label", { for: `fc-${messageId}` }, s.feedbackComment),
      comment,
      h("div", { class: "row" }, sendComment, cancel),
    );
    const group = h("div", { class: "feedback", role: "group", "aria-label": `${s.helpful} / ${s.notHelpful}` }, up, down, status, form);
    const lock = (): void => {
      up.disabled = true;
      down.disabled = true;
    };
    if (rating === "FEEDBACK_RATING_UP" || rating === "FEEDBACK_RATING_DOWN") lock();

    const submit = async (value: Rating, text: string): Promise<void> => {
      lock();
      (value === "FEEDBACK_RATING_UP" ? up : down).setAttribute("aria-pressed", "true");
      sendComment.disabled = true;
      try {
        await this.api?.submitFeedback(messageId, value, text);
        form.hidden = true;
        status.textContent = s.feedbackThanks;
      } catch {
        up.disabled = false;
        down.disabled = false;
        sendComment.disabled = false;
        (value === "FEEDBACK_RATING_UP" ? up : down).setAttribute("aria-pressed", "false");
        status.textContent = s.feedbackFailed;
      }
    };
    up.addEventListener("click", () => void submit("FEEDBACK_RATING_UP", ""));
    down.addEventListener("click", () => {
      form.hidden = false;
      // The whole form, buttons included, must be visible, not just the focused box.
      comment.focus({ preventScroll: true });
      form.scrollIntoView({ block: "nearest" });
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void submit("FEEDBACK_RATING_DOWN", comment.value.trim());
    });
    cancel.addEventListener("click", () => {
      form.hidden = true;
      down.focus();
    });
    return group;
  }

  /**
   * End the conversation. When it had an answer, first ask how satisfied the person was (1 to 5, optional
   * comment, skippable); then start a fresh one.
   */
  private endConversation(): void {
    if (this.busy) return;
    if (!this.answered || !this.conversationId) {
      void this.startOver(false);
      return;
    }
    const s = this.s;
    const conversationId = this.conversationId;
    let score = 0;
    const comment = h("textarea", { rows: "2", maxlength: "2000", id: "sat-comment" });
    const sendButton = h("button", { type: "submit", class: "btn", disabled: true }, s.satisfactionSend);
    const skip = h("button", { type: "button", class: "btn ghost" }, s.satisfactionSkip);
    const scores = [1, 2, 3, 4, 5].map((n) => {
      const b = h("button", { type: "button", class: "btn ghost", "aria-pressed": "false", "aria-label": s.satisfactionScore(n) }, String(n));
      b.addEventListener("click", () => {
        score = n;
        for (const other of scores) other.setAttribute("aria-pressed", String(other === b));
        sendButton.disabled = false;
      });
      return b;
    });
    const form = h(
      "form",
      { class: "survey", "aria-labelledby": "sat-q" },
      h("p", { id: "sat-q" }, s.satisfactionQuestion),
      h("div", { class: "scale", role: "group", "aria-labelledby": "sat-q" }, ...scores),
      h("div", { class: "ends", "aria-hidden": "true" }, h("span", {}, s.satisfactionLow), h("span", {}, s.satisfactionHigh)),
      h("label", { for: "sat-comment" }, s.satisfactionComment),
      comment,
      h("div", { class: "row" }, sendButton, skip),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!score) return;
      sendButton.disabled = true;
      this.api
        ?.submitSatisfaction(conversationId, score, comment.value.trim())
        .then(() => this.startOver(true))
        .catch((err: unknown) => {
          sendButton.disabled = false;
          this.showError(err instanceof ApiError ? err.code : "NETWORK", null);
        });
    });
    skip.addEventListener("click", () => void this.startOver(false));
    this.survey.replaceChildren(form);
    this.survey.hidden = false;
    this.composer.hidden = true;
    scores[0]?.focus();
  }

  private async startOver(thanked: boolean): Promise<void> {
    await this.forgetConversation();
    this.survey.hidden = true;
    this.survey.replaceChildren();
    this.composer.hidden = false;
    this.log.replaceChildren();
    if (thanked) this.log.append(h("p", { class: "hint", role: "status" }, this.s.satisfactionThanks));
    else this.showHint();
    this.input.focus();
    this.emit("ended", { thanked });
  }
}
