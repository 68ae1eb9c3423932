import type { StoredAlert } from '../alerts/alert.ts';
import type {
  BuildRow,
  DestinationRow,
  Exposure,
  FleetHistory,
  LineSummary,
} from '../history/fleetHistory.ts';
import { NO_PERSONAL_DATA } from '../store/keys.ts';

/**
 * `leakwatch report`: one self-contained HTML page a lab lead can forward. For each firmware line:
 * a build × data type grid coloured by how the data left (plaintext, encrypted, both, absent),
 * the destinations by organisation and country across the line's builds, and the alert timeline.
 * No script, no external resource: styles inline, so the file opens anywhere and prints.
 */
export interface ReportOptions {
  /** Only lines of this model. */
  readonly model?: string;
  /** Only this firmware line (name). */
  readonly lineName?: string;
  /** Newest builds per line in the grid. @default 20 */
  readonly builds?: number;
  readonly now?: Date;
}

export interface LineReport {
  readonly line: LineSummary;
  /** Oldest first, as a timeline reads. */
  readonly builds: BuildRow[];
  readonly dataTypes: string[];
  /** grid[build][dataType] */
  readonly grid: Record<string, Record<string, Exposure | 'absent'>>;
  readonly destinations: {
    organisation: string;
    country: string;
    category: string;
    hosts: number;
    flows: number;
    dataTypes: string[];
    plaintext: boolean;
  }[];
  readonly alerts: StoredAlert[];
}

export interface FleetReport {
  readonly generatedAt: string;
  readonly lines: LineReport[];
}

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
    const destinations = new Map<
      string,
      LineReport['destinations'][number] & { hostSet: Set<string>; typeSet: Set<string> }
    >();
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
    const alerts = await history.alerts({ model: line.model, lineName: line.lineName });
    reports.push({
      line,
      builds,
      dataTypes,
      grid,
      destinations: [...destinations.values()]
        .map(({ hostSet, typeSet, ...d }) => ({ ...d, hosts: hostSet.size, dataTypes: [...typeSet].sort() }))
        .sort((a, b) => b.dataTypes.length - a.dataTypes.length || b.flows - a.flows),
      alerts: alerts
        .filter((a) => a.lineKey === line.line)
        .sort((a, b) => a.builtAt.localeCompare(b.builtAt) || a.alertId.localeCompare(b.alertId)),
    });
  }
  return { generatedAt: (options.now ?? new Date()).toISOString(), lines: reports };
}

function addDestination(
  map: Map<string, LineReport['destinations'][number] & { hostSet: Set<string>; typeSet: Set<string> }>,
  d: DestinationRow,
): void {
  const country = d.country ?? 'unknown';
  const id = `${d.organisation}\n${country}`;
  let entry = map.get(id);
  if (!entry) {
    entry = {
      organisation: d.organisation,
      country,
      category: d.category,
      hosts: 0,
      flows: 0,
      dataTypes: [],
      plaintext: false,
      hostSet: new Set(),
      typeSet: new Set(),
    };
    map.set(id, entry);
  }
  entry.hostSet.add(d.host);
  entry.flows += d.flows;
  if (d.dataType !== NO_PERSONAL_DATA) {
    entry.typeSet.add(d.dataType);
    if (d.transport === 'plaintext') entry.plaintext = true;
  }
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
footer{margin-top:3rem;color:#5b6570;font-size:12px}
`;

export function renderFleetReport(report: FleetReport): string {
  const sections = report.lines.map(renderLine).join('\n');
  const alerts = report.lines.reduce((n, l) => n + l.alerts.length, 0);
  const open = report.lines.reduce((n, l) => n + l.alerts.filter((a) => a.state === 'open').length, 0);
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
<p class="meta">Generated ${html(report.generatedAt)} · ${report.lines.length} firmware line(s) · ${alerts} alert(s), ${open} open</p>
<p class="legend"><span class="plaintext" style="background:#d7263d;color:#fff">plaintext</span><span style="background:#f49d37">plaintext + encrypted</span><span style="background:#3f88c5;color:#fff">encrypted</span><span style="background:#f7f9fa;color:#8a949e">— not sent</span></p>
${sections || '<p>No firmware line in the history yet: run a session first (npm start runs the bundled scenario).</p>'}
<footer>Values are never shown: leakwatch stores masked samples and keyed digests only. Countries: registration country of the server address (@ip-location-db geo-whois-asn-country, RIR data via the NRO, CC BY 4.0). Networks: IP to ASN Lite data by <a href="https://db-ip.com">DB-IP</a> (CC BY 4.0) and <a href="https://www.routeviews.org">RouteViews</a>.</footer>
</body>
</html>
`;
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
        `<tr><td>${html(d.organisation)}</td><td>${html(d.country)}</td><td>${html(d.category)}</td><td class="num">${d.hosts}</td><td class="num">${d.flows}</td><td>${html(d.dataTypes.join(', ') || '—')}</td><td>${d.plaintext ? '<strong>yes</strong>' : 'no'}</td></tr>`,
    )
    .join('\n');
  const alerts = l.alerts
    .map(
      (a) =>
        `<tr><td>${html(a.build)}<br><span class="meta">${html(a.builtAt.slice(0, 10))}</span></td><td class="sev-${html(a.severity)}">${html(a.severity)}</td><td>${html(a.title)}</td><td>${html(a.dataType)}</td><td>${html(a.host)} (${html(a.organisation)}${a.country ? `, ${html(a.country)}` : ''})</td><td class="state-${html(a.state)}">${a.state === 'resolved' ? `resolved in ${html(a.resolvedIn)}` : a.reopenedIn ? `open again in ${html(a.reopenedIn)}` : 'open'}</td><td>${html(a.verification)}</td><td><code>${html(a.alertId)}</code></td></tr>`,
    )
    .join('\n');
  return `<section id="${id}">
<h2>${html(l.line.vendor)} ${html(l.line.model)} · ${html(l.line.lineName)}</h2>
<p class="meta">${l.line.builds} build(s), ${l.line.devices} device(s), ${l.line.sessions} session(s)${l.builds.length < l.line.builds ? ` · the grid shows the newest ${l.builds.length}` : ''}</p>
<h3>Personal data by build</h3>
${grid}
<h3>Destinations by organisation and country</h3>
<table class="destinations"><thead><tr><th>organisation</th><th>country</th><th>category</th><th>hosts</th><th>flows</th><th>personal data</th><th>any in plaintext</th></tr></thead><tbody>
${destinations}
</tbody></table>
<h3>Alert timeline</h3>
${l.alerts.length ? `<table class="alerts"><thead><tr><th>raised in</th><th>severity</th><th>alert</th><th>data type</th><th>destination</th><th>state</th><th>verdict</th><th>id</th></tr></thead><tbody>\n${alerts}\n</tbody></table>` : '<p>No alerts.</p>'}
</section>`;
}
