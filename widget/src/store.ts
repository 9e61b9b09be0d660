/**
 * Which conversation to resume after a page reload: one per user, per task (or the general page), per edge.
 *
 * Keyed by user so that two people sharing a browser never see each other's conversation id (the edge
 * would refuse it anyway), and by task so a task page resumes the conversation about that task. Only ids
 * are stored; the messages are fetched from the edge. localStorage can be unavailable (privacy modes,
 * sandboxed frames): then the widget simply starts fresh.
 */

export function conversationKey(edge: string, userId: string, taskId: string): string {
  return `assist-chat:v1:${edge || location.origin}:${userId}:${taskId || "*"}`;
}

export function loadConversationId(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function saveConversationId(key: string, id: string | null): void {
  try {
    if (id) localStorage.setItem(key, id);
    else localStorage.removeItem(key);
  } catch {
    // Storage is unavailable: history will not survive a reload, nothing else breaks.
  }
}

/** A client message id for a new message: 32 hex characters, within the API's [A-Za-z0-9_-]{1,64}. */
export function newClientMessageId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
