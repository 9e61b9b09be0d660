/**
 * Where the person writes: the message box with its send button (Enter sends, Shift+Enter is a new line),
 * and on a task page the quick questions about that task.
 */

import { h, icon, ICONS } from "../dom";
import type { Strings } from "../i18n";

export class Composer {
  readonly form: HTMLElement;
  readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;

  /** `submit` gets the trimmed text and says whether it took it (the box is emptied only then). */
  constructor(s: Strings, submit: (text: string) => boolean) {
    this.input = h("textarea", { id: "input", rows: "2", placeholder: s.placeholder, maxlength: "4000" });
    const send = (): void => {
      const text = this.input.value.trim();
      if (text && submit(text)) this.input.value = "";
    };
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
      }
    });
    this.sendButton = h("button", { id: "send", type: "submit", "aria-label": s.send });
    this.sendButton.append(icon(ICONS.send));
    this.form = h("form", { id: "composer" }, h("label", { for: "input", class: "sr" }, s.inputLabel), this.input, this.sendButton);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      send();
    });
  }

  /** The send button is off while a turn runs (the box stays editable for the next message). */
  set sending(on: boolean) {
    this.sendButton.disabled = on;
  }

  /** Hidden while the satisfaction question takes its place. */
  set hidden(on: boolean) {
    this.form.hidden = on;
  }
}

/** The quick questions of a task page: each button asks its question as if typed. */
export function quickActions(s: Strings, ask: (question: string) => void): HTMLElement {
  const questions = [
    [s.quickSummarize, s.askSummarize],
    [s.quickBlockers, s.askBlockers],
    [s.quickDue, s.askDue],
  ] as const;
  return h(
    "div",
    { id: "quick", role: "group", "aria-label": s.quickActions },
    ...questions.map(([label, question]) => {
      const b = h("button", { type: "button", class: "btn ghost" }, label);
      b.addEventListener("click", () => ask(question));
      return b;
    }),
  );
}
