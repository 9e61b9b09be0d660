/**
 * The usability study's content, bundled from the repository's one copy (`study/tasks.json`,
 * `study/sus.json`; the report reads the same files), and when study mode is on.
 */

import type { Locale } from "../i18n";
import susFile from "../../../study/sus.json";
import tasksFile from "../../../study/tasks.json";

export interface StudyTask {
  id: string;
  title: string;
  prompt: string;
  success: string;
}

/** The tasks in the file's order, in the widget's language. */
export function studyTasks(locale: Locale): StudyTask[] {
  return tasksFile.tasks.map((t) => ({ id: t.id, title: t.title[locale], prompt: t.prompt[locale], success: t.success[locale] }));
}

/** The ten SUS statements in question order, and the five answers' labels (1 = strongly disagree). */
export function susQuestionnaire(locale: Locale): { statements: string[]; scale: string[] } {
  return { statements: susFile.statements[locale], scale: susFile.scale[locale] };
}

/**
 * Study mode is for internal testers: on when the element has a `study` attribute (the manual override),
 * or when the widget's configuration (the `study-mode` flag served by the edge) says so.
 */
export function studyModeOn(attribute: string | null, config: { study?: boolean } = {}): boolean {
  return attribute !== null || config.study === true;
}
