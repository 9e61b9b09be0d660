/**
 * A Server-Sent Events parser for a body read with `fetch`.
 *
 * `EventSource` cannot send a POST or an Authorization header, and a turn is a POST, so the widget reads the
 * response body itself and needs the event-stream grammar (WHATWG HTML, "Parsing an event stream"): lines
 * end in CRLF, LF or CR; a blank line dispatches; `:` starts a comment; `data` lines accumulate. Chunks from
 * the network split anywhere, even between a CR and its LF, so the parser keeps state across `push` calls.
 */

/**
 * One dispatched event: its name (`message` when none was given), its data, and the stream's last event
 * id when it was dispatched ("" before any `id:` line): what a resumed request sends as `Last-Event-ID`.
 */
export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

export class SseParser {
  private buffer = "";
  private eventName = "";
  private data: string[] = [];
  /** The last event ID buffer: it outlives the event that set it, as in the specification. */
  private lastEventId = "";
  /** The previous chunk ended in CR: a LF starting the next chunk belongs to that line ending. */
  private skipLeadingLf = false;

  /** Feed decoded text; returns the events completed by it, in order. */
  push(chunk: string): SseEvent[] {
    if (this.skipLeadingLf && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.skipLeadingLf = false;
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      const line = this.buffer.slice(start, i);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) this.skipLeadingLf = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** The stream ended: an event not closed by a blank line is dropped, as the specification says (the last
   * event id is kept: it is what a reconnection sends). */
  end(): void {
    this.buffer = "";
    this.eventName = "";
    this.data = [];
    this.skipLeadingLf = false;
  }

  private line(line: string): SseEvent | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventName = value;
    else if (field === "data") this.data.push(value);
    // An id with NUL is ignored (the specification's rule); `retry` is not used: the widget paces itself.
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    return null;
  }

  private dispatch(): SseEvent | null {
    const name = this.eventName || "message";
    const data = this.data;
    this.eventName = "";
    this.data = [];
    if (data.length === 0) return null;
    return { event: name, data: data.join("\n"), id: this.lastEventId };
  }
}
