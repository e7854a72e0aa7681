// Renders engine events: one JSON object per line (--output json), one plain line per event without
// a TTY, and on a TTY the same lines plus a live status line (machine, step, elapsed).

import { formatDuration } from '../../domain/clock.ts';
import type { EventSink, KubeswapEvent } from '../../domain/events.ts';

export interface Output {
  write(text: string): void;
  isTTY: boolean;
}

export function jsonRenderer(out: Output): EventSink {
  return (event) => out.write(`${JSON.stringify(event)}\n`);
}

export function textRenderer(out: Output, now: () => number = Date.now): { sink: EventSink; stop(): void } {
  const start = now();
  let status = '';
  let machine = '';
  let ticker: NodeJS.Timeout | undefined;
  const clearStatus = () => {
    if (out.isTTY && status) out.write('\r\x1b[2K');
  };
  const drawStatus = () => {
    if (!out.isTTY || !status) return;
    out.write(`\r\x1b[2K  ${machine ? `[${machine}] ` : ''}${status} (${formatDuration(now() - start)})`);
  };
  if (out.isTTY) {
    ticker = setInterval(() => {
      clearStatus();
      drawStatus();
    }, 1000);
    ticker.unref();
  }
  const sink: EventSink = (event) => {
    clearStatus();
    out.write(`${formatLine(event)}\n`);
    if (event.machine) machine = event.machine;
    if (event.code === 'wait' || event.code === 'plan.step') status = event.message;
    if (event.code === 'swap.finished') machine = '';
    drawStatus();
  };
  return {
    sink,
    stop: () => {
      if (ticker) clearInterval(ticker);
      clearStatus();
    },
  };
}

export function formatLine(event: KubeswapEvent): string {
  const time = event.at.slice(11, 19);
  const level = event.level === 'info' ? '' : `${event.level.toUpperCase()} `;
  const machine = event.machine ? `[${event.machine}] ` : '';
  return `${time} ${level}${machine}${event.message}`;
}
