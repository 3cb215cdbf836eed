/** Server-sent events as the tests read them: one stream followed to its end. */
import { expect } from 'vitest';

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Follows an event stream to its end, calling `each` per event as it arrives. */
export async function followEvents(url: string, each: (e: SseEvent) => void | Promise<void> = () => undefined): Promise<SseEvent[]> {
  const r = await fetch(url);
  expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  const out: SseEvent[] = [];
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!block.startsWith('event:')) continue;
      const [ev, data] = block.split('\n');
      const e = { event: ev!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) as Record<string, unknown> };
      out.push(e);
      await each(e);
    }
  }
  return out;
}
