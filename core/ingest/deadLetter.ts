import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * A record the ingest function will never be able to process: not a valid flow record
 * (`malformed-record`), or one whose processing failed with an error no retry mends
 * (`poison-record`, e.g. a DynamoDB ValidationException or a bug; the reason names the error).
 * The data travels with it, so it can be put on the stream again once the cause is fixed.
 */
export interface DeadLetter {
  readonly kind: 'malformed-record' | 'poison-record';
  readonly reason: string;
  readonly sessionId?: string;
  readonly flowId?: string;
  readonly eventSourceArn?: string;
  readonly eventId?: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly arrivedAt?: string;
  /** The record's data, base64, cut to MAX_DEAD_LETTER_DATA_BYTES. */
  readonly data: string;
  readonly dataTruncated: boolean;
  readonly failedAt: string;
}

/** Keeps a dead letter well under the SQS message size limit. */
export const MAX_DEAD_LETTER_DATA_BYTES = 180 * 1024;

export interface DeadLetterSink {
  send(letter: DeadLetter): Promise<void>;
}

/** Sends dead letters to the SQS queue that is also the event source's on-failure destination. */
export class SqsDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(letter: DeadLetter): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(letter),
        MessageAttributes: { kind: { DataType: 'String', StringValue: letter.kind } },
      }),
    );
  }
}
