/**
 * The satisfaction question asked when a conversation that had an answer ends: a 1-5 scale, an optional
 * comment, and a way to skip it. The score must be chosen before the answer can be sent.
 */

import { h } from "../dom";
import type { Strings } from "../i18n";

export interface SurveyActions {
  /** Send the answer; resolves to false when it was not stored (the form stays and can be sent again). */
  submit(score: number, comment: string): Promise<boolean>;
  skip(): void;
}

/** The form, and the first score button (which takes the focus when the form is shown). */
export function satisfactionForm(s: Strings, actions: SurveyActions): { form: HTMLElement; first: HTMLElement | undefined } {
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
    void actions.submit(score, comment.value.trim()).then((sent) => {
      if (!sent) sendButton.disabled = false;
    });
  });
  skip.addEventListener("click", () => actions.skip());
  return { form, first: scores[0] };
}
