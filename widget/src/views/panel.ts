/**
 * The launcher button and the dialog panel around the conversation: its header (title, what the
 * conversation is about, past conversations, "End conversation", close), opening and closing, and keeping Tab inside the open
 * panel (the launcher and the page are one Escape away).
 */

import { focusables, h, icon, ICONS, type Child } from "../dom";
import type { Strings } from "../i18n";

export interface PanelActions {
  toggle(): void;
  close(): void;
  end(): void;
  /** Show or hide the list of past conversations. */
  past(): void;
}

export class Panel {
  readonly launcher: HTMLButtonElement;
  readonly panel: HTMLElement;
  readonly pastButton: HTMLButtonElement;

  constructor(
    private readonly s: Strings,
    task: { id: string; title: string },
    actions: PanelActions,
    body: Child[],
  ) {
    this.launcher = h("button", {
      id: "launcher",
      part: "launcher",
      type: "button",
      "aria-expanded": "false",
      "aria-controls": "panel",
      "aria-label": s.launcherOpen,
    });
    this.launcher.append(icon(ICONS.chat));
    this.launcher.addEventListener("click", () => actions.toggle());

    const context = task.id
      ? h("p", { id: "context" }, `${s.aboutTask} `, h("b", {}, task.id), task.title ? `: ${task.title}` : "")
      : h("p", { id: "context" }, s.general);
    this.pastButton = h("button", { type: "button", class: "icon", id: "past-toggle", "aria-label": s.pastOpen, "aria-expanded": "false", "aria-controls": "past" });
    this.pastButton.title = s.pastOpen;
    this.pastButton.append(icon(ICONS.past));
    this.pastButton.addEventListener("click", () => actions.past());
    const endButton = h("button", { type: "button", class: "icon", id: "end", "aria-label": s.newConversation });
    endButton.title = s.newConversation;
    endButton.append(icon(ICONS.end));
    endButton.addEventListener("click", () => actions.end());
    const closeButton = h("button", { type: "button", class: "icon", id: "close", "aria-label": s.close });
    closeButton.title = s.close;
    closeButton.append(icon(ICONS.close));
    closeButton.addEventListener("click", () => actions.close());

    this.panel = h(
      "section",
      { id: "panel", part: "panel", role: "dialog", "aria-labelledby": "title", "aria-describedby": "context", hidden: true },
      h("div", { class: "head" }, h("div", { class: "heading" }, h("h2", { id: "title" }, s.title), context), this.pastButton, endButton, closeButton),
      ...body,
    );
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  /** Show or hide the panel; the launcher's state and label follow, and the focus moves to `focus`. */
  show(open: boolean, focus: HTMLElement): void {
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.launcher.setAttribute("aria-label", open ? this.s.launcherClose : this.s.launcherOpen);
    focus.focus();
  }

  /** The past-conversations button's state and label follow whether the list is shown. */
  pastShown(open: boolean): void {
    this.pastButton.setAttribute("aria-expanded", String(open));
    const label = open ? this.s.pastBack : this.s.pastOpen;
    this.pastButton.setAttribute("aria-label", label);
    this.pastButton.title = label;
  }

  /** Keep Tab inside the open panel: from the last focusable element back to the first, and the reverse. */
  trapTab(e: KeyboardEvent, active: Element | null): void {
    if (!this.panel.contains(active)) return;
    const items = focusables(this.panel);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && active === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }
}
