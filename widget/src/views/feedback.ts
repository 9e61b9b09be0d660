/**
 * Thumbs up or down under one answer, with a comment box that opens on thumbs down. Once a rating is
 * stored the thumbs lock; a failed submit unlocks them and says so, so the person can try again.
 */

import type { Rating } from "../api";
import { h, icon, ICONS } from "../dom";
import type { Strings } from "../i18n";

/** Sends one rating to the edge; rejects when it was not stored. */
export type SubmitFeedback = (rating: Rating, comment: string) => Promise<void>;

export function feedbackControls(s: Strings, messageId: string, rating: string | undefined, submit: SubmitFeedback): HTMLElement {
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

  const send = async (value: Rating, text: string): Promise<void> => {
    lock();
    (value === "FEEDBACK_RATING_UP" ? up : down).setAttribute("aria-pressed", "true");
    sendComment.disabled = true;
    try {
      await submit(value, text);
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
  up.addEventListener("click", () => void send("FEEDBACK_RATING_UP", ""));
  down.addEventListener("click", () => {
    form.hidden = false;
    // The whole form, buttons included, must be visible, not just the focused box.
    comment.focus({ preventScroll: true });
    form.scrollIntoView({ block: "nearest" });
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void send("FEEDBACK_RATING_DOWN", comment.value.trim());
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    down.focus();
  });
  return group;
}
