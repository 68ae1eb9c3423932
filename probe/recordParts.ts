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
 * The record's summary of one request, every field within the schema's limits. `host` overrides the
 * Host header (HAR knows the URL's host).
 */
export function summariseRequest(request: HttpRequest, host = headerValue(request, 'host')): HttpRequestInfo {
  const userAgent = headerValue(request, 'user-agent');
  const contentType = headerValue(request, 'content-type');
  return {
    method: request.method.slice(0, 32),
    target: request.target.slice(0, 8192),
    ...(host ? { host: normaliseHost(host) } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, 1024) } : {}),
    ...(contentType ? { contentType: contentType.slice(0, 256) } : {}),
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
