import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { requireEnv } from '../../core/config.ts';
import { FleetHistory } from '../../core/history/fleetHistory.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { createApiHandler } from './createApiHandler.ts';

const documents = documentClient(new DynamoDBClient({}));
const table = requireEnv('TABLE_NAME');

export const handler = createApiHandler({
  history: new FleetHistory(documents, table),
  store: new LeakwatchStore(documents, table),
});
