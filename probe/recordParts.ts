import { hash } from 'node:crypto';
import type { HttpRequestInfo } from '../schema/flowRecord.ts';
import { type HttpRequest, headerValue } from './decode/http1.ts';

/**
 * Deterministic flow id: hex SHA-256 (128 bits) of what identifies the flow in its session, so a
 * replay of the same input yields the same ids and ingest counts it once.
 */
export function flowId(sessionId: string, ...parts: (string | number)[]): string {
  return hash('sha256', [sessionId, ...parts].join('|'), 'hex').slice(0, 32);
}

/**
 * `text` with every lone surrogate replaced by U+FFFD: device-chosen text (a JSON body's "\ud800",
 * a HAR string, a value cut in the middle of a pair) must not make the record one ingest rejects.
 */
export const wellFormed = (text: string): string => text.toWellFormed();

/**
 * The record's summary of one request, every field within the schema's limits. `host` overrides the
 * Host header (HAR knows the URL's host).
 */
export function summariseRequest(request: HttpRequest, host = headerValue(request, 'host')): HttpRequestInfo {
  const userAgent = headerValue(request, 'user-agent');
  const contentType = headerValue(request, 'content-type');
  return {
    method: wellFormed(request.method.slice(0, 32)),
    target: wellFormed(request.target.slice(0, 8192)),
    ...(host ? { host: wellFormed(normaliseHost(host)) } : {}),
    ...(userAgent ? { userAgent: wellFormed(userAgent.slice(0, 1024)) } : {}),
    ...(contentType ? { contentType: wellFormed(contentType.slice(0, 256)) } : {}),
    bodyBytes: request.body.length,
  };
}

/** Host header without port; an IPv6 literal keeps its brackets (`[::1]`). */
export function normaliseHost(host: string): string {
  const lower = host.trim().toLowerCase();
  const withoutPort = lower.startsWith('[')
    ? lower.slice(0, lower.indexOf(']') + 1)
    : lower.replace(/:\d+$/, '');
  return withoutPort.slice(0, 256) || lower.slice(0, 256);
}
