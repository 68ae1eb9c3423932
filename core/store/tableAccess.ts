import { type DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';

/** The single table as each part of the store reads it: a client, the table's name, whole partitions. */
export abstract class TableAccess {
  constructor(
    readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Every item of one partition (the SDK's paginator follows the pages). */
  protected async queryAll(pk: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
      },
    );
    for await (const page of pages) items.push(...(page.Items ?? []));
    return items;
  }
}
