import { dataTypeLabel } from '../classify/dataTypes.ts';
import bundledProfiles from '../consent/profiles.json' with { type: 'json' };
import type { StoredAlert } from './alert.ts';

type Resolvable = Pick<StoredAlert, 'rule' | 'state' | 'dataType' | 'subject' | 'line' | 'service'>;

/** The shipped consent profiles that deny `service` (a lab session can name one). */
function profilesDenying(service: string): string[] {
  return Object.entries(bundledProfiles.profiles as Record<string, { consent: Record<string, string> }>)
    .filter(([, profile]) => profile.consent[service] === 'denied')
    .map(([name]) => name);
}

/** The session a consent alert's fix must be confirmed in: the service denied, and the shipped profiles that deny it. */
export function consentTestFor(service: string | undefined): string {
  if (!service) return "a session with the service's consent denied";
  const profiles = profilesDenying(service);
  return `a session with consent "${service}": "denied"${profiles.length ? ` (consent profile ${profiles.map((p) => `"${p}"`).join(' or ')})` : ''}`;
}

/**
 * What test would resolve an open alert, in words for the lab: a later build of the line that no
 * longer does it. A consent alert needs more: only a session with the service's consent denied can
 * show the fix (a session that granted it sends the data with consent), so it says which state the
 * confirming session must have. Undefined for an alert that is not open.
 */
export function howToResolve(alert: Resolvable): string | undefined {
  if (alert.state !== 'open') return undefined;
  const label = dataTypeLabel(alert.dataType);
  switch (alert.rule) {
    case 'sent-without-consent':
      return `test a later build of ${alert.line} in ${consentTestFor(alert.service)}; it resolves if that build no longer sends ${label} to ${alert.subject}. A session with ${alert.service ?? 'the service'} granted cannot show the fix`;
    case 'plaintext-begins':
      return `a later build of ${alert.line} that no longer sends ${label} to ${alert.subject} in plaintext`;
    case 'hashed-in-plaintext':
      return `a later build of ${alert.line} that no longer sends a hash of the ${label} to ${alert.subject} in plaintext`;
    case 'new-country':
      return `a later build of ${alert.line} that no longer sends ${label} to servers in ${alert.subject}`;
    default:
      return `a later build of ${alert.line} that no longer sends ${label} to ${alert.subject}`;
  }
}

/** The consent services of the open sent-without-consent alerts among `alerts`. */
export function openConsentServices(
  alerts: Iterable<Pick<StoredAlert, 'rule' | 'state' | 'service'>>,
): Set<string | undefined> {
  const services = new Set<string | undefined>();
  for (const a of alerts)
    if (a.state === 'open' && a.rule === 'sent-without-consent') services.add(a.service);
  return services;
}

/** `Open sent-without-consent alerts of S resolve only from a later build tested in <the session>`. */
export function openConsentAlertsResolveIn(service: string | undefined): string {
  return `Open sent-without-consent alerts${service ? ` of ${service}` : ''} resolve only from a later build tested in ${consentTestFor(service)}`;
}

/** The short form for a table: the consent state a confirming session needs, if any. */
export function resolutionNeeds(alert: Resolvable): string {
  if (alert.state !== 'open') return '';
  return alert.rule === 'sent-without-consent'
    ? `a session with ${alert.service ?? 'the service'} denied`
    : 'a later build without it';
}
