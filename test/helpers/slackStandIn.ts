import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface SlackMessage {
  ts: string;
  thread_ts?: string;
  text: string;
  metadata?: { event_type: string; event_payload: { notification: string; events: string } };
}

/** Slack's Web API as far as leakwatch uses it, and an incoming webhook. */
export class SlackStandIn {
  messages: SlackMessage[] = [];
  hooks: string[] = [];
  private server!: Server;
  private next = 1;
  url = '';

  async start() {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        res.setHeader('content-type', 'application/json');
        if (url.pathname.endsWith('/chat.postMessage')) {
          const posted = JSON.parse(body) as SlackMessage & { channel: string };
          const ts = `1700000000.${String(this.next++).padStart(6, '0')}`;
          this.messages.push({
            ts,
            text: posted.text,
            ...(posted.thread_ts ? { thread_ts: posted.thread_ts } : {}),
            ...(posted.metadata ? { metadata: posted.metadata } : {}),
          });
          res.end(JSON.stringify({ ok: true, ts }));
        } else if (url.pathname.endsWith('/conversations.history')) {
          const top = this.messages.filter((m) => !m.thread_ts);
          res.end(JSON.stringify({ ok: true, messages: [...top].reverse() }));
        } else if (url.pathname.endsWith('/conversations.replies')) {
          const thread = url.searchParams.get('ts');
          const replies = this.messages.filter((m) => m.ts === thread || m.thread_ts === thread);
          res.end(JSON.stringify({ ok: true, messages: replies }));
        } else if (url.pathname === '/hook') {
          this.hooks.push(body);
          res.end('ok');
        } else {
          res.statusCode = 404;
          res.end(JSON.stringify({ ok: false, error: 'unknown_method' }));
        }
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset() {
    this.messages = [];
    this.hooks = [];
    this.next = 1;
  }

  /** Each message as what it tells and where: its notification, its events, top-level or a reply. */
  told(): string[] {
    const firstOf = new Map(this.messages.map((m, i) => [m.ts, i]));
    return this.messages.map((m) => {
      const p = m.metadata?.event_payload;
      return `${p?.notification} [${p?.events}] ${m.thread_ts ? `reply to message ${firstOf.get(m.thread_ts)}` : 'top-level'}`;
    });
  }

  close() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
