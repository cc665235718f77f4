/**
 * Reads a `text/event-stream` response frame by frame (for `/api/events` tests).
 *
 * @module
 */

export interface SseFrame {
  event: string;
  data: string;
  comments: string[];
}

export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(res: Response) {
    if (!res.body) throw new Error("response has no body");
    this.#reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next frame (comment-only frames included, with event ""). */
  async next(): Promise<SseFrame> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const raw = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const frame: SseFrame = { event: "", data: "", comments: [] };
        const data: string[] = [];
        for (const line of raw.split("\n")) {
          if (line.startsWith(":")) frame.comments.push(line.slice(1).trim());
          else if (line.startsWith("event: ")) frame.event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        frame.data = data.join("\n");
        return frame;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("stream ended");
      this.#buffer += value;
    }
  }

  /** Skips frames until one with `event` (and matching `pred`, if given); returns its data. */
  async until<T = unknown>(event: string, pred: (data: T) => boolean = () => true): Promise<T> {
    for (;;) {
      const f = await this.next();
      if (f.event !== event) continue;
      const data = JSON.parse(f.data) as T;
      if (pred(data)) return data;
    }
  }

  /** Reads until the stream ends; true when it did. */
  async ended(): Promise<boolean> {
    for (;;) {
      const { done } = await this.#reader.read();
      if (done) return true;
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}
