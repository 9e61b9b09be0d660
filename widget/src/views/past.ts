/**
 * The list of past conversations inside the panel: shown in place of the conversation while it is open, one
 * button per conversation (its first question, its date, "imported" for chats the host brought in), and
 * "show more" while there are older ones. Picking one goes back to the conversation view with it loaded.
 */

import { errorText, type Strings } from "../i18n";
import { h } from "../dom";
import type { PastItem, PastView } from "../past";

export class PastList implements PastView {
  readonly region: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private readonly moreButton: HTMLButtonElement;

  constructor(
    private readonly s: Strings,
    actions: { pick(conversationId: string): void; more(): void },
  ) {
    this.list = h("ul", { class: "past-items" });
    this.status = h("p", { class: "past-status", role: "status" });
    this.moreButton = h("button", { type: "button", class: "btn ghost", hidden: true }, s.pastMore);
    this.moreButton.addEventListener("click", () => actions.more());
    this.list.addEventListener("click", (e) => {
      const button = (e.target as Element | null)?.closest("button[data-conversation-id]");
      const id = button?.getAttribute("data-conversation-id");
      if (id) actions.pick(id);
    });
    this.region = h(
      "div",
      { id: "past", role: "region", "aria-labelledby": "past-title", hidden: true },
      h("h3", { id: "past-title" }, s.pastTitle),
      this.status,
      this.list,
      this.moreButton,
    );
  }

  get isOpen(): boolean {
    return !this.region.hidden;
  }

  set open(open: boolean) {
    this.region.hidden = !open;
  }

  loading(): void {
    this.status.textContent = this.s.pastLoading;
    this.moreButton.disabled = true;
  }

  shown(items: readonly PastItem[], hasMore: boolean): void {
    this.status.textContent = items.length ? "" : this.s.pastEmpty;
    this.list.replaceChildren(
      ...items.map((item) => {
        const notes = [item.date, item.imported ? this.s.pastImported : "", item.current ? this.s.pastCurrent : ""];
        const button = h(
          "button",
          { type: "button", class: "past-item", "data-conversation-id": item.conversationId, "aria-current": item.current ? "true" : undefined },
          h("span", { class: "past-label" }, item.label),
          h("span", { class: "past-meta" }, notes.filter(Boolean).join(" · ")),
        );
        return h("li", {}, button);
      }),
    );
    this.moreButton.hidden = !hasMore;
    this.moreButton.disabled = false;
  }

  failed(code: string): void {
    this.status.textContent = errorText(this.s, code);
    this.moreButton.disabled = false;
  }

  /** The first thing to focus when the list opens. */
  get first(): HTMLElement {
    return this.list.querySelector("button") ?? this.moreButton;
  }
}
