/**
 * Whether the widget shows itself at all, and in study mode: the assistant is rolled out gradually (the
 * edge's `GET /v1/widget/config`, from the `widget-enabled` flag), so the element asks before drawing its
 * launcher; the same answer says whether the user is a usability-study tester (the `study-mode` flag), so a
 * tester gets the study panel without the host page setting the element's `study` attribute.
 *
 * It fails closed: an edge that cannot say yes (refused, unreachable, or an answer without `enabled: true`)
 * keeps the widget hidden, so the rollout's kill switch cannot be bypassed by an error; the study is off
 * then too. DOM-free, so the decision is tested in node; the element only draws or does not.
 */

export interface WidgetConfigSource {
  /** Resolves with the edge's answer for the signed-in user; rejects when the edge cannot be asked. */
  widgetConfig(): Promise<{ enabled: boolean; study: boolean }>;
}

export interface Availability {
  state: "enabled" | "disabled";
  /** The user is in the usability study's cohort (only ever true when enabled). */
  study: boolean;
}

const HIDDEN: Availability = { state: "disabled", study: false };

export async function availability(source: WidgetConfigSource): Promise<Availability> {
  try {
    const config = await source.widgetConfig();
    return config.enabled ? { state: "enabled", study: config.study } : HIDDEN;
  } catch {
    return HIDDEN;
  }
}
