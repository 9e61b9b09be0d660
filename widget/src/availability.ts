/**
 * Whether the widget shows itself at all: the assistant is rolled out gradually (the edge's
 * `GET /v1/widget/config`, from the `widget-enabled` flag), so the element asks before drawing its launcher.
 *
 * It fails closed: an edge that cannot say yes (refused, unreachable, or an answer without `enabled: true`)
 * keeps the widget hidden, so the rollout's kill switch cannot be bypassed by an error. DOM-free, so the
 * decision is tested in node; the element only draws or does not.
 */

export interface WidgetConfigSource {
  /** Resolves with the edge's `enabled` for the signed-in user; rejects when the edge cannot be asked. */
  widgetEnabled(): Promise<boolean>;
}

export type Availability = "enabled" | "disabled";

export async function availability(source: WidgetConfigSource): Promise<Availability> {
  try {
    return (await source.widgetEnabled()) ? "enabled" : "disabled";
  } catch {
    return "disabled";
  }
}
