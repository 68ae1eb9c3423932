import {
  mostSevere,
  SEVERITY_RANK,
  type Severity,
  type StoredAlert,
  type VerificationState,
} from '../alerts/alert.ts';
import { howToResolve } from '../alerts/resolution.ts';
import type {
  BuildDiff,
  BuildRow,
  DestinationRow,
  DeviceRun,
  Exposure,
  FleetHistory,
  LineSummary,
} from '../history/fleetHistory.ts';
import { NO_PERSONAL_DATA } from '../store/keys.ts';

/**
 * `leakwatch report`: one self-contained HTML page a lab lead can forward. At the top a summary
 * (open alerts by severity, builds that regressed, verdicts); per firmware line a timeline of its
 * builds with the incidents they opened and resolved (inline SVG), the build × data type grid, the
 * latest build against its baseline, the destinations by organisation and country, the devices,
 * and the alerts. No script, no external resource: it opens anywhere, prints (a print stylesheet),
 * and `leakwatch report --pdf` prints it through headless Chromium.
 */
export interface ReportOptions {
  /** Only lines of this model. */
  readonly model?: string;
  /** Only this firmware line (name). */
  readonly lineName?: string;
  /** Newest builds per line in the grid and timeline. @default 20 */
  readonly builds?: number;
  readonly now?: Date;
}

export interface DestinationSummary {
  readonly organisation: string;
  readonly country: string;
  readonly category: string;
  readonly hosts: number;
  /** Flows to the organisation's hosts in that country, each flow once. */
  readonly flows: number;
  /** Of those, flows that carried personal data (each flow once, whatever it carried). */
  readonly dataTypes: string[];
  readonly plaintext: boolean;
}

export interface DeviceSummary {
  readonly deviceId: string;
  /** Its sessions on this line, in build order. */
  readonly runs: DeviceRun[];
}

/** Alerts opened together: one firmware build, one organisation (what one notification told). */
export interface Incident {
  readonly build: string;
  readonly builtAt: string;
  readonly organisation: string;
  readonly severity: Severity;
  readonly alerts: StoredAlert[];
  /** Where its alerts resolved (builds with their dates), and how many are still open. */
  readonly resolved: { build: string; builtAt: string; alerts: number }[];
  readonly open: number;
}

export interface LineReport {
  readonly line: LineSummary;
  /** Oldest first, as a timeline reads. */
  readonly builds: BuildRow[];
  readonly dataTypes: string[];
  /** grid[build][dataType] */
  readonly grid: Record<string, Record<string, Exposure | 'absent'>>;
  readonly destinations: DestinationSummary[];
  readonly devices: DeviceSummary[];
  /** The newest build against the one before it (absent with a single build). */
  readonly latestDiff?: BuildDiff;
  readonly incidents: Incident[];
  readonly alerts: StoredAlert[];
}

export interface ReportSummary {
  readonly lines: number;
  readonly builds: number;
  readonly alerts: number;
  readonly openBySeverity: Record<Severity, number>;
  readonly verdicts: Record<VerificationState, number>;
  /** Builds that opened (or reopened) alerts, newest first. */
  readonly regressions: {
    line: string;
    build: string;
    builtAt: string;
    opened: number;
    organisations: string[];
  }[];
}

export interface FleetReport {
  readonly generatedAt: string;
  readonly summary: ReportSummary;
  readonly lines: LineReport[];
}

const SEVERITIES: readonly Severity[] = ['high', 'medium', 'low'];

export async function collectFleetReport(
  history: FleetHistory,
  options: ReportOptions = {},
): Promise<FleetReport> {
  const lines = (await history.allLines()).filter(
    (l) =>
      (!options.model || l.model === options.model) && (!options.lineName || l.lineName === options.lineName),
  );
  const reports: LineReport[] = [];
  for (const line of lines) {
    const builds = (await history.builds(line.line, { limit: options.builds ?? 20 })).items.reverse();
    const grid: LineReport['grid'] = {};
    const types = new Set<string>();
    const destinations = new Map<string, DestinationAccumulator>();
    for (const build of builds) {
      const report = await history.buildReport(line.line, build.build, { all: true });
      grid[build.build] = {};
      for (const t of report.dataTypes) {
        types.add(t.dataType);
        grid[build.build]![t.dataType] = t.exposure;
      }
      for (const d of report.destinations) addDestination(destinations, d);
    }
    const dataTypes = [...types].sort();
    for (const build of builds) for (const t of dataTypes) grid[build.build]![t] ??= 'absent';
    const deviceIds = [...new Set(builds.flatMap((b) => b.deviceIds))].sort();
    const devices: DeviceSummary[] = [];
    for (const deviceId of deviceIds) {
      const runs: DeviceRun[] = [];
      let next: string | undefined;
      do {
        const page = await history.device(deviceId, { limit: 1000, ...(next ? { next } : {}) });
        runs.push(...page.items.filter((r) => r.line === line.line));
        next = page.next;
      } while (next);
      devices.push({ deviceId, runs });
    }
    const latest = builds.at(-1);
    const previous = builds.at(-2);
    const latestDiff =
      latest && previous ? await history.diff(line.line, previous.build, latest.build) : undefined;
    const alerts = (await history.alerts({ model: line.model, lineName: line.lineName }))
      .filter((a) => a.lineKey === line.line)
      .sort(
        (a, b) =>
          a.builtAt.localeCompare(b.builtAt) ||
          SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
          a.organisation.localeCompare(b.organisation) ||
          a.dataType.localeCompare(b.dataType) ||
          a.rule.localeCompare(b.rule),
      );
    reports.push({
      line,
      builds,
      dataTypes,
      grid,
      destinations: [...destinations.values()]
        .map(({ hostSet, typeSet, ...d }) => ({ ...d, hosts: hostSet.size, dataTypes: [...typeSet].sort() }))
        .sort((a, b) => b.dataTypes.length - a.dataTypes.length || b.flows - a.flows),
      devices,
      ...(latestDiff ? { latestDiff } : {}),
      incidents: incidentsOf(alerts),
      alerts,
    });
  }
  return {
    generatedAt: (options.now ?? new Date()).toISOString(),
    summary: summarise(reports),
    lines: reports,
  };
}

type DestinationAccumulator = Omit<DestinationSummary, 'hosts' | 'dataTypes'> & {
  hostSet: Set<string>;
  typeSet: Set<string>;
  flows: number;
  plaintext: boolean;
};

/**
 * Every flow adds one row without personal data (`-`) to its destination, and one row per data
 * type it carried: flows are counted from the `-` rows only, so a flow that carried five data
 * types counts once.
 */
function addDestination(map: Map<string, DestinationAccumulator>, d: DestinationRow): void {
  const country = d.country ?? 'unknown';
  const id = `${d.organisation}\n${country}`;
  let entry = map.get(id);
  if (!entry) {
    entry = {
      organisation: d.organisation,
      country,
      category: d.category,
      flows: 0,
      plaintext: false,
      hostSet: new Set(),
      typeSet: new Set(),
    };
    map.set(id, entry);
  }
  entry.hostSet.add(d.host);
  if (d.dataType === NO_PERSONAL_DATA) entry.flows += d.flows;
  else {
    entry.typeSet.add(d.dataType);
    if (d.transport === 'plaintext') entry.plaintext = true;
  }
}

/** Alerts grouped as they were notified: per build that opened them and organisation. */
export function incidentsOf(alerts: readonly StoredAlert[]): Incident[] {
  const groups = new Map<string, StoredAlert[]>();
  for (const a of alerts) {
    const id = `${a.builtAt}\n${a.build}\n${a.organisation}`;
    const list = groups.get(id) ?? [];
    list.push(a);
    groups.set(id, list);
  }
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const resolved = new Map<string, { build: string; builtAt: string; alerts: number }>();
    for (const a of list) {
      if (a.state !== 'resolved' || !a.resolvedIn) continue;
      const r = resolved.get(a.resolvedIn) ?? {
        build: a.resolvedIn,
        builtAt: a.resolvedInBuiltAt ?? '',
        alerts: 0,
      };
      r.alerts++;
      resolved.set(a.resolvedIn, r);
    }
    return {
      build: first.build,
      builtAt: first.builtAt,
      organisation: first.organisation,
      severity: mostSevere(list.map((a) => a.severity)),
      alerts: list,
      resolved: [...resolved.values()].sort((a, b) => a.builtAt.localeCompare(b.builtAt)),
      open: list.filter((a) => a.state === 'open').length,
    };
  });
}

function summarise(lines: readonly LineReport[]): ReportSummary {
  const alerts = lines.flatMap((l) => l.alerts);
  const openBySeverity: Record<Severity, number> = { high: 0, medium: 0, low: 0 };
  const verdicts: Record<VerificationState, number> = {
    unknown: 0,
    'true-positive': 0,
    'benign-positive': 0,
    'false-positive': 0,
  };
  for (const a of alerts) {
    if (a.state === 'open') openBySeverity[a.severity]++;
    verdicts[a.verification]++;
  }
  const regressions = new Map<string, ReportSummary['regressions'][number]>();
  for (const l of lines) {
    for (const a of l.alerts) {
      // A reopened alert regressed in the build that showed it again.
      const build = a.reopenedIn ?? a.build;
      const builtAt = a.reopenedIn
        ? (l.builds.find((b) => b.build === a.reopenedIn)?.builtAt ?? a.builtAt)
        : a.builtAt;
      const id = `${l.line.line}\n${build}`;
      const r = regressions.get(id) ?? {
        line: `${l.line.model} ${l.line.lineName}`,
        build,
        builtAt,
        opened: 0,
        organisations: [],
      };
      r.opened++;
      if (!r.organisations.includes(a.organisation)) r.organisations.push(a.organisation);
      regressions.set(id, r);
    }
  }
  return {
    lines: lines.length,
    builds: lines.reduce((n, l) => n + l.builds.length, 0),
    alerts: alerts.length,
    openBySeverity,
    verdicts,
    regressions: [...regressions.values()].sort((a, b) => b.builtAt.localeCompare(a.builtAt)),
  };
}

const html = (text: unknown) =>
  String(text ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const EXPOSURE_LABEL: Record<Exposure | 'absent', string> = {
  plaintext: 'plaintext',
  encrypted: 'encrypted',
  both: 'plaintext + encrypted',
  absent: '—',
};

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1d232a;max-width:1200px}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{margin-top:2.5rem;border-bottom:2px solid #d5dbe1;padding-bottom:.25rem}
h3{margin:1.5rem 0 .5rem;font-size:1.05rem}.meta{color:#5b6570}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:13px}th,td{border:1px solid #d5dbe1;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f1f4f7}td.num{text-align:right}
td.plaintext{background:#d7263d;color:#fff;font-weight:600}td.both{background:#f49d37;color:#1d232a;font-weight:600}
td.encrypted{background:#3f88c5;color:#fff}td.absent{background:#f7f9fa;color:#8a949e;text-align:center}
.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.5rem;border-radius:3px}
.sev-high{color:#b3001b;font-weight:600}.sev-medium{color:#a35a00;font-weight:600}
.state-open{font-weight:600}.state-resolved{color:#2d7d46}
.summary{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{border:1px solid #d5dbe1;border-radius:6px;padding:.6rem .9rem;min-width:12rem}
.card h3{margin:0 0 .3rem;font-size:.95rem}.card .big{font-size:1.6rem;font-weight:700}
.card ul{margin:.2rem 0;padding-left:1.1rem}
tr.verdict-false-positive td{text-decoration:line-through;color:#8a949e}
tr.verdict-benign-positive td{color:#5b6570;font-style:italic}
tr.verdict-true-positive td.verdict{font-weight:700;color:#b3001b}
.diff-appeared{color:#b3001b;font-weight:600}.diff-gone{color:#2d7d46}
svg.timeline{display:block;margin:.5rem 0 1rem;max-width:100%;height:auto}
footer{margin-top:3rem;color:#5b6570;font-size:12px}
@page{size:A4 landscape;margin:12mm}
@media print{
  body{margin:0;max-width:none;font-size:11px}
  section.line{break-before:page}
  h3,table,svg{break-inside:avoid}
  a{color:inherit;text-decoration:none}
  td.plaintext,td.both,td.encrypted,td.absent,.legend span{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
`;

export function renderFleetReport(report: FleetReport): string {
  const sections = report.lines.map(renderLine).join('\n');
  const s = report.summary;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leakwatch fleet report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>leakwatch fleet report</h1>
<p class="meta">Generated ${html(report.generatedAt)} · ${s.lines} firmware line(s) · ${s.builds} build(s) · ${s.alerts} alert(s), ${SEVERITIES.reduce((n, k) => n + s.openBySeverity[k], 0)} open</p>
${renderSummary(s)}
<p class="legend"><span class="plaintext" style="background:#d7263d;color:#fff">plaintext</span><span style="background:#f49d37">plaintext + encrypted</span><span style="background:#3f88c5;color:#fff">encrypted</span><span style="background:#f7f9fa;color:#8a949e">— not sent</span></p>
${sections || '<p>No firmware line in the history yet: run a session first (npm start runs the bundled scenario).</p>'}
<footer>Values are never shown: leakwatch stores masked samples and keyed digests only. Countries: registration country of the server address (@ip-location-db geo-whois-asn-country, RIR data via the NRO, CC BY 4.0). Networks: IP to ASN Lite data by <a href="https://db-ip.com">DB-IP</a> (CC BY 4.0) and <a href="https://www.routeviews.org">RouteViews</a>.</footer>
</body>
</html>
`;
}

function renderSummary(s: ReportSummary): string {
  const open = SEVERITIES.reduce((n, k) => n + s.openBySeverity[k], 0);
  const regressions = s.regressions.length
    ? `<ul>${s.regressions
        .slice(0, 10)
        .map(
          (r) =>
            `<li><strong>${html(r.line)} ${html(r.build)}</strong> (${html(r.builtAt.slice(0, 10))}): ${r.opened} alert(s), ${html(r.organisations.join(', '))}</li>`,
        )
        .join('')}${s.regressions.length > 10 ? `<li>… ${s.regressions.length - 10} more</li>` : ''}</ul>`
    : '<p>none</p>';
  return `<div class="summary" id="summary">
<div class="card open-alerts"><h3>Open alerts</h3><div class="big">${open}</div>${SEVERITIES.map((k) => `<span class="sev-${k}" data-severity="${k}">${k} ${s.openBySeverity[k]}</span>`).join(' · ')}</div>
<div class="card regressions"><h3>Builds that regressed</h3>${regressions}</div>
<div class="card verdicts"><h3>Verdicts</h3><ul>${Object.entries(s.verdicts)
    .map(([k, n]) => `<li data-verdict="${html(k)}">${html(k)}: ${n}</li>`)
    .join('')}</ul></div>
</div>`;
}

/** Builds on a time axis (by build date), one row per incident: opened, resolved or still open. */
function renderTimeline(l: LineReport): string {
  if (l.builds.length === 0) return '';
  const width = 1000;
  const left = 200;
  // Room for the newest build's label, and for an open incident's line to run on past it.
  const right = 90;
  const rowHeight = 24;
  const top = 46;
  const times = l.builds.map((b) => Date.parse(b.builtAt));
  const min = Math.min(...times);
  const max = Math.max(...times);
  const span = Math.max(max - min, 1);
  const x = (iso: string) =>
    l.builds.length === 1
      ? left + (width - left - right) / 2
      : left + ((Date.parse(iso) - min) / span) * (width - left - right);
  const rows = l.incidents;
  const height = top + Math.max(rows.length, 1) * rowHeight + 16;
  const ticks = l.builds
    .map((b, i) => {
      const bx = x(b.builtAt).toFixed(1);
      return `<line x1="${bx}" y1="30" x2="${bx}" y2="${height - 8}" stroke="#d5dbe1"/><text class="build" x="${bx}" y="${i % 2 ? 12 : 24}" text-anchor="middle" font-size="11" fill="#1d232a">${html(b.build)}</text>`;
    })
    .join('');
  const colour = { high: '#d7263d', medium: '#f49d37', low: '#8a949e' } as const;
  const bars = rows
    .map((inc, i) => {
      const y = top + i * rowHeight;
      const start = x(inc.builtAt);
      const lastResolved = inc.resolved.at(-1);
      const end = inc.open > 0 ? width - 12 : x(lastResolved?.builtAt ?? inc.builtAt);
      const label = `${inc.organisation} · ${inc.alerts.length} alert(s)`;
      const resolvedMarks = inc.resolved
        .map(
          (r) =>
            `<circle class="resolved" cx="${x(r.builtAt).toFixed(1)}" cy="${y}" r="6" fill="#2d7d46"><title>${html(`${r.alerts} resolved in ${r.build}`)}</title></circle>`,
        )
        .join('');
      return `<g class="incident" data-build="${html(inc.build)}" data-organisation="${html(inc.organisation)}" data-open="${inc.open}">
<text x="${left - 10}" y="${y + 4}" text-anchor="end" font-size="12" fill="#1d232a">${html(label)}</text>
<line x1="${start.toFixed(1)}" y1="${y}" x2="${end.toFixed(1)}" y2="${y}" stroke="${colour[inc.severity]}" stroke-width="4"${inc.open > 0 ? ' stroke-dasharray="6 4"' : ''}/>
<circle class="opened" cx="${start.toFixed(1)}" cy="${y}" r="7" fill="${colour[inc.severity]}"><title>${html(`${inc.alerts.length} alert(s) opened in ${inc.build}${inc.open ? `, ${inc.open} still open` : ''}`)}</title></circle>${resolvedMarks}
</g>`;
    })
    .join('\n');
  return `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Builds of ${html(l.line.lineName)} by build date, with the incidents they opened and resolved">
${ticks}
${rows.length ? bars : `<text x="${left}" y="${top + 4}" font-size="12" fill="#5b6570">no incidents</text>`}
</svg>
<p class="meta">Builds by build date; a filled circle opens an incident (alerts of one build and organisation, coloured by severity), a green one resolves it; a dashed line is still open.</p>`;
}

function renderDiff(diff: BuildDiff | undefined): string {
  if (!diff) return '<p>One build only: nothing to compare with yet.</p>';
  const rows = (list: BuildDiff['appeared'], what: string, cls: string) =>
    list
      .map(
        (e) =>
          `<tr class="${cls}"><td>${what}</td><td>${html(e.dataType)}</td><td>${html(e.host)}</td><td>${html(e.organisation)}${e.country ? `, ${html(e.country)}` : ''}</td><td>${html(e.before.join(', ') || '—')}</td><td>${html(e.after.join(', ') || '—')}</td></tr>`,
      )
      .join('');
  const body =
    rows(diff.appeared, 'new', 'diff-appeared') +
    rows(diff.nowPlaintext, 'now in plaintext', 'diff-appeared') +
    rows(diff.nowEncrypted, 'now encrypted', 'diff-gone') +
    rows(diff.disappeared, 'no longer sent', 'diff-gone');
  return `<p class="meta">${html(diff.to.build)} (${html(diff.to.builtAt.slice(0, 10))}) against ${html(diff.from.build)} (${html(diff.from.builtAt.slice(0, 10))}): ${diff.appeared.length} new, ${diff.nowPlaintext.length} now in plaintext, ${diff.nowEncrypted.length} now encrypted, ${diff.disappeared.length} no longer sent, ${diff.unchanged} unchanged.</p>
${body ? `<table class="diff"><thead><tr><th>change</th><th>data type</th><th>host</th><th>organisation</th><th>before</th><th>after</th></tr></thead><tbody>${body}</tbody></table>` : '<p>No change in personal data.</p>'}`;
}

function renderDevices(l: LineReport): string {
  if (l.devices.length === 0) return '<p>No device sessions recorded.</p>';
  const rows = l.devices
    .flatMap((d) =>
      d.runs.map(
        (r, i) =>
          `<tr data-device="${html(d.deviceId)}">${i === 0 ? `<th scope="row" rowspan="${d.runs.length}">${html(d.deviceId)}</th>` : ''}<td>${html(r.build)}</td><td>${html(r.sessionId)}</td><td class="num">${r.flows}</td><td>${html(r.dataTypes.join(', ') || '—')}</td><td>${r.plaintextDataTypes.length ? `<strong>${html(r.plaintextDataTypes.join(', '))}</strong>` : '—'}</td><td>${html(r.lastSeen?.slice(0, 16).replace('T', ' ') ?? '')}</td></tr>`,
      ),
    )
    .join('\n');
  return `<table class="devices"><thead><tr><th>device</th><th>build</th><th>session</th><th>flows</th><th>personal data</th><th>in plaintext</th><th>last flow</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function renderLine(l: LineReport): string {
  const id = `line-${html(l.line.line).replace(/[^A-Za-z0-9-]/g, '-')}`;
  const head = l.builds
    .map(
      (b) =>
        `<th scope="col">${html(b.build)}<br><span class="meta">${html(b.builtAt.slice(0, 10))}</span></th>`,
    )
    .join('');
  const rows = l.dataTypes
    .map(
      (t) =>
        `<tr><th scope="row">${html(t)}</th>${l.builds
          .map((b) => {
            const e = l.grid[b.build]![t]!;
            return `<td class="${e}" data-build="${html(b.build)}" data-type="${html(t)}">${EXPOSURE_LABEL[e]}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  const grid = l.dataTypes.length
    ? `<table class="grid"><thead><tr><th>data type</th>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p>No personal data seen in any build of this line.</p>';
  const destinations = l.destinations
    .map(
      (d) =>
        `<tr data-organisation="${html(d.organisation)}" data-country="${html(d.country)}"><td>${html(d.organisation)}</td><td>${html(d.country)}</td><td>${html(d.category)}</td><td class="num">${d.hosts}</td><td class="num flows">${d.flows}</td><td>${html(d.dataTypes.join(', ') || '—')}</td><td>${d.plaintext ? '<strong>yes</strong>' : 'no'}</td></tr>`,
    )
    .join('\n');
  const alerts = l.alerts
    .map((a) => {
      const hint = howToResolve(a);
      return `<tr class="verdict-${html(a.verification)}" data-alert="${html(a.alertId)}"><td>${html(a.build)}<br><span class="meta">${html(a.builtAt.slice(0, 10))}</span></td><td class="sev-${html(a.severity)}">${html(a.severity)}</td><td>${html(a.title)}${hint && a.rule === 'sent-without-consent' ? `<br><span class="meta">To resolve: ${html(hint)}</span>` : ''}</td><td>${html(a.dataType)}</td><td>${html(a.host)} (${html(a.organisation)}${a.country ? `, ${html(a.country)}` : ''})</td><td class="state-${html(a.state)}">${a.state === 'resolved' ? `resolved in ${html(a.resolvedIn)}` : a.reopenedIn ? `open again in ${html(a.reopenedIn)}` : 'open'}</td><td class="verdict">${html(a.verification)}${a.verificationNote ? `<br><span class="meta">${html(a.verificationNote)}</span>` : ''}</td><td><code>${html(a.alertId)}</code></td></tr>`;
    })
    .join('\n');
  return `<section class="line" id="${id}">
<h2>${html(l.line.vendor)} ${html(l.line.model)} · ${html(l.line.lineName)}</h2>
<p class="meta">${l.line.builds} build(s), ${l.line.devices} device(s), ${l.line.sessions} session(s)${l.builds.length < l.line.builds ? ` · the grid and timeline show the newest ${l.builds.length}` : ''}</p>
<h3>Timeline</h3>
${renderTimeline(l)}
<h3>Personal data by build</h3>
${grid}
<h3>Latest build against its baseline</h3>
${renderDiff(l.latestDiff)}
<h3>Destinations by organisation and country</h3>
<table class="destinations"><thead><tr><th>organisation</th><th>country</th><th>category</th><th>hosts</th><th>flows</th><th>personal data</th><th>any in plaintext</th></tr></thead><tbody>
${destinations}
</tbody></table>
<h3>Devices</h3>
${renderDevices(l)}
<h3>Alerts</h3>
${l.alerts.length ? `<table class="alerts"><thead><tr><th>raised in</th><th>severity</th><th>alert</th><th>data type</th><th>destination</th><th>state</th><th>verdict</th><th>id</th></tr></thead><tbody>\n${alerts}\n</tbody></table>` : '<p>No alerts.</p>'}
</section>`;
}
