import {
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from '@jest/globals';
import { isTransientError } from '../../core/ingest/transientError.ts';

const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });

describe('isTransientError', () => {
  it('retries throttling, timeouts, server faults and network errors', () => {
    expect(
      isTransientError(new ProvisionedThroughputExceededException({ message: 'x', $metadata: {} })),
    ).toBe(true);
    expect(isTransientError(named('ThrottlingException'))).toBe(true);
    expect(isTransientError(named('TimeoutError'))).toBe(true);
    expect(isTransientError(named('SessionIncompleteError'))).toBe(true);
    expect(isTransientError(named('SomethingNew', { $fault: 'server' }))).toBe(true);
    expect(isTransientError(named('Error', { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(isTransientError(named('Error', { code: 'ECONNRESET' }))).toBe(true);
    expect(
      isTransientError(new TypeError('fetch failed', { cause: named('Error', { code: 'ECONNREFUSED' }) })),
    ).toBe(true);
    expect(
      isTransientError(
        new TransactionCanceledException({
          message: 'x',
          $metadata: {},
          CancellationReasons: [{ Code: 'None' }, { Code: 'ThrottlingError' }],
        }),
      ),
    ).toBe(true);
  });

  it('does not retry client faults, failed conditions or bugs', () => {
    expect(isTransientError(named('ValidationException', { $fault: 'client' }))).toBe(false);
    expect(
      isTransientError(
        new TransactionCanceledException({
          message: 'x',
          $metadata: {},
          CancellationReasons: [{ Code: 'ConditionalCheckFailed' }],
        }),
      ),
    ).toBe(false);
    expect(isTransientError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isTransientError('a string')).toBe(false);
  });
});
