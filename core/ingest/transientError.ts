/**
 * Whether an error processing a record may go away on its own (throttling, a timeout, a service or
 * network fault, a session whose flows are not all counted yet): then the record is retried.
 * Anything else (a client fault such as ValidationException, a bug) would fail the same way on every
 * retry: that record is poison and goes to the dead-letter queue with its reason, so it neither
 * blocks its shard nor takes the records behind it down with it when the retries run out.
 */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as Error & {
    $retryable?: unknown;
    $fault?: 'client' | 'server';
    $metadata?: { httpStatusCode?: number };
    code?: string;
    CancellationReasons?: ({ Code?: string } | undefined)[];
  };
  if (e.$retryable) return true;
  if (TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name === 'TransactionCanceledException') {
    return (e.CancellationReasons ?? []).some(
      (r) => r?.Code !== undefined && TRANSIENT_CANCELLATIONS.has(r.Code),
    );
  }
  if (e.$fault === 'server') return true;
  // An error wrapping another (fetch's TypeError('fetch failed') has the socket error as cause).
  if (e.cause instanceof Error) return isTransientError(e.cause);
  return false;
}

const TRANSIENT_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'LimitExceededException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'InternalServerError',
  'InternalFailure',
  'InternalServiceError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
  // The session-end record came before its run's flows were all counted.
  'SessionIncompleteError',
]);

const TRANSIENT_CANCELLATIONS = new Set([
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'TransactionConflict',
  'RequestLimitExceeded',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
