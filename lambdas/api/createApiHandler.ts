import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  alertAsJson,
  isAlertState,
  VERIFICATION_STATES,
  type VerificationState,
} from '../../core/alerts/alert.ts';
import { type FleetHistory, HistoryQueryError, type PageOptions } from '../../core/history/fleetHistory.ts';
import type { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import {
  count,
  METRIC,
  type ObservedDependencies,
  observabilityOf,
  observed,
} from '../shared/observability.ts';

export interface ApiHandlerDependencies extends ObservedDependencies {
  readonly history: FleetHistory;
  readonly store: LeakwatchStore;
  readonly clock?: () => Date;
}

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

type Query = Record<string, string | undefined>;
type Route = (query: Query, event: APIGatewayProxyEventV2) => Promise<unknown>;

/**
 * The query API (API Gateway HTTP API, IAM authorisation, payload format 2.0): the same questions
 * as the CLI, answered by core/history/fleetHistory.ts, described by docs/openapi.yaml. Lines are
 * named by key or by line name (with `model`/`vendor` when a name is shared). Lists take `limit`
 * and `next`. Errors are `{ "message": … }` with 400 (bad request) or 404 (not in the history).
 */
export function createApiHandler(deps: ApiHandlerDependencies): ApiHandler {
  const { history, store } = deps;
  const { obs, log } = observabilityOf('api', deps);
  const lineOf = async (query: Query) =>
    (
      await history.resolveLine({
        line: required(query, 'line'),
        ...(query.model ? { model: query.model } : {}),
        ...(query.vendor ? { vendor: query.vendor } : {}),
      })
    ).line;

  const routes: Record<string, Route> = {
    'GET /lines': (q) => history.lines(page(q)),
    'GET /builds': async (q) => history.builds(await lineOf(q), page(q)),
    'GET /build': async (q) =>
      history.buildReport(await lineOf(q), required(q, 'build'), { all: q.all === 'true' }),
    'GET /destinations': async (q) =>
      history.destinations(await lineOf(q), required(q, 'build'), page(q), {
        personalOnly: q.personalOnly === 'true',
      }),
    'GET /diff': async (q) => history.diff(await lineOf(q), required(q, 'from'), required(q, 'to')),
    'GET /device': (q) => history.device(required(q, 'id'), page(q)),
    'GET /sent': (q) =>
      history.sent(
        {
          dataType: required(q, 'dataType'),
          ...(q.organisation !== undefined ? { organisation: q.organisation } : {}),
          ...(q.country !== undefined ? { country: q.country } : {}),
        },
        page(q),
      ),
    'GET /alerts': async (q) => {
      const state = q.state || undefined;
      if (state !== undefined && !isAlertState(state))
        throw new HistoryQueryError(`state "${state}": open or resolved`);
      const alerts = await history.alerts({
        ...(state ? { state } : {}),
        ...(q.severity ? { severity: q.severity } : {}),
        ...(q.model ? { model: q.model } : {}),
        ...(q.line ? { lineName: q.line } : {}),
      });
      return { items: alerts.map(alertAsJson) };
    },
    'POST /alerts/{alertId}/verification': async (_q, event) => {
      const alertId = event.pathParameters?.alertId ?? '';
      const body = parseBody(event);
      const verdict = body.verdict;
      if (typeof verdict !== 'string' || !VERIFICATION_STATES.includes(verdict as VerificationState))
        throw new HistoryQueryError(`verdict: one of ${VERIFICATION_STATES.join(', ')}`);
      if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > 1000))
        throw new HistoryQueryError('note: text of at most 1000 characters');
      const alert = await store.alerts.alertById(alertId);
      if (!alert) throw new HistoryQueryError(`no alert ${alertId}`, 404);
      await store.alerts.verifyAlert(
        alert,
        verdict as VerificationState,
        body.note as string | undefined,
        (deps.clock ?? (() => new Date()))(),
      );
      return alertAsJson((await store.alerts.alertById(alertId))!);
    },
  };

  const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const route = routes[event.routeKey];
    if (!route) return respond(404, { message: `no route ${event.routeKey}` });
    count(obs, METRIC.queries);
    // API Gateway's request id is the correlation id (also in the stage's access log).
    obs.logger.setCorrelationId(event.requestContext?.requestId);
    try {
      const query = event.queryStringParameters ?? {};
      // Values the store cannot take as keys (DynamoDB refuses keys over 1-2 KB) are the asker's
      // error, answered 400, not a failed query answered 500.
      for (const [name, value] of Object.entries({ ...query, ...(event.pathParameters ?? {}) }))
        if (value !== undefined && (value.length > MAX_PARAMETER_LENGTH || !value.isWellFormed()))
          throw new HistoryQueryError(
            `${name.slice(0, 32)}: at most ${MAX_PARAMETER_LENGTH} characters of well-formed text`,
          );
      return respond(200, await route(query, event));
    } catch (error) {
      if (error instanceof HistoryQueryError) return respond(error.status, { message: error.message });
      count(obs, METRIC.queryErrors);
      log({ level: 'ERROR', message: 'query failed', route: event.routeKey, error: String(error) });
      return respond(500, { message: 'internal error (see the function log)' });
    }
  };
  return observed(handler, obs);
}

/** Longest query or path parameter value (names in the history are at most 256 characters). */
const MAX_PARAMETER_LENGTH = 512;

function required(query: Query, name: string): string {
  const value = query[name];
  if (!value) throw new HistoryQueryError(`${name} is required`);
  return value;
}

function page(query: Query): PageOptions {
  const out: { limit?: number; next?: string } = {};
  if (query.limit !== undefined) {
    const limit = Number(query.limit);
    if (!Number.isInteger(limit)) throw new HistoryQueryError('limit: a whole number from 1 to 1000');
    out.limit = limit;
  }
  if (query.next) out.next = query.next;
  return out;
}

function parseBody(event: APIGatewayProxyEventV2): Record<string, unknown> {
  if (!event.body) throw new HistoryQueryError('a JSON body is required');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new HistoryQueryError('the body is not a JSON object');
}

function respond(status: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}
