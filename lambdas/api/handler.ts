import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { requireEnv } from '../../core/config.ts';
import { FleetHistory } from '../../core/history/fleetHistory.ts';
import { documentClient } from '../../core/store/documentClient.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { observability } from '../shared/observability.ts';
import { createApiHandler } from './createApiHandler.ts';

const obs = observability('api');
const documents = documentClient(obs.tracer.captureAWSv3Client(new DynamoDBClient({})));
const table = requireEnv('TABLE_NAME');

export const handler = createApiHandler({
  observability: obs,
  history: new FleetHistory(documents, table),
  store: new LeakwatchStore(documents, table),
});
