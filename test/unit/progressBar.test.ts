import { describe, expect, it } from '@jest/globals';
import { ProgressBar, type TerminalStream } from '../../probe/progressBar.ts';

function terminal(isTTY: boolean): TerminalStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns: 100, written, write: (text: string) => written.push(text) > 0 };
}

describe('ProgressBar', () => {
  it('draws bytes of total, percentage, flows and rate on a terminal', () => {
    let now = 0;
    const out = terminal(true);
    const bar = new ProgressBar(out, 'cap.pcap', 200e6, () => now);

    now = 2000;
    bar.update({ bytesRead: 100e6, packets: 1, flows: 12345 });

    expect(out.written).toEqual([
      `\rcap.pcap [###############---------------]  50% 100.0/200.0 MB · 12,345 flows · 50.0 MB/s\x1b[K`,
    ]);
  });

  it('redraws at most every interval and erases itself when done', () => {
    let now = 0;
    const out = terminal(true);
    const bar = new ProgressBar(out, 'x', 100, () => now, 100);

    now = 100;
    bar.update({ bytesRead: 10, packets: 1, flows: 1 });
    now = 150;
    bar.update({ bytesRead: 20, packets: 1, flows: 1 });
    now = 250;
    bar.update({ bytesRead: 30, packets: 1, flows: 1 });
    bar.finish();

    expect(out.written).toHaveLength(3);
    expect(out.written[2]).toBe('\r\x1b[K');
  });

  it('writes nothing when the output is not a terminal', () => {
    const out = terminal(false);
    const bar = new ProgressBar(out, 'x', 100, () => 1000);

    bar.update({ bytesRead: 50, packets: 1, flows: 1 });
    bar.finish();

    expect(out.written).toEqual([]);
  });
});
