import type { LabContext } from '../../schema/flowRecord.ts';
import { FlowTable, limitsPerTable, type TlsDecryptStats } from '../flowTable.ts';
import { type KeyLogEntries, TlsKeyLog } from '../tls/keyLog.ts';
import { EVENT, type EventBatch, EventWriter } from './eventWire.ts';
import { ENTRY, WireReader } from './packetWire.ts';

/**
 * One of a parallel probe's flow tables: it takes chunks of wire entries (its packets, and where
 * to sweep) and gives back its records in parts and the DNS names it learnt, each with the sort key
 * that places it in the capture (see eventWire.ts). Runs in a worker thread, or in the reading
 * thread for that thread's own share of the flows.
 */
export class FlowTableHost {
  private readonly events = new EventWriter();
  private primary = 0;
  private secondary = 0;
  private readonly table: FlowTable;

  constructor(
    context: LabContext,
    captureName: string,
    tables: number,
    /** TLS secrets: the reading thread's key log (its own table) or a copy of its entries (a worker's). */
    readonly keyLog: TlsKeyLog = new TlsKeyLog(),
  ) {
    const events = this.events;
    this.table = new FlowTable(
      context,
      captureName,
      () => {
        throw new Error('a parallel flow table makes records in parts');
      },
      limitsPerTable(tables),
      {
        record: (mid, serverIp, namesRest, members) => {
          events.event(EVENT.record, this.primary, this.secondary);
          events.string(mid);
          events.string(serverIp);
          events.string(namesRest);
          events.string(members);
        },
        name: (ip, name) => {
          events.event(EVENT.name, this.primary, this.secondary);
          events.string(ip);
          events.string(name);
        },
      },
    );
    this.table.autoSweep = false;
    this.table.keyLog = keyLog;
    this.table.onClosing = (openIndex) => {
      this.secondary = openIndex;
    };
  }

  /** A chunk's entries in, the events they made out. */
  chunk(bytes: Uint8Array): EventBatch {
    const reader = new WireReader(bytes);
    const table = this.table;
    for (let kind = reader.next(); kind !== 0; kind = reader.next()) {
      if (kind === ENTRY.packet) {
        this.primary = reader.index * 2;
        this.secondary = 0;
        table.packetIndex = reader.index;
        table.add(reader.view);
      } else {
        this.primary = reader.index * 2 + 1;
        table.tick(reader.sweepMicros);
      }
    }
    return this.events.take();
  }

  /** Secrets the reading thread read since (a pcapng secrets block), for flows closing from now on. */
  addSecrets(entries: KeyLogEntries): void {
    this.keyLog.addEntries(entries);
  }

  /** The end of the capture: every flow still open, oldest first, and what the key log opened. */
  finish(): EventBatch & { readonly tls: TlsDecryptStats } {
    this.primary = Number.MAX_SAFE_INTEGER;
    this.table.flushAll();
    return { ...this.events.take(), tls: this.table.tlsStats };
  }

  /** A batch's text, merged: its buffer is reused. */
  recycle(text: Uint8Array): void {
    this.events.recycle(text);
  }
}
