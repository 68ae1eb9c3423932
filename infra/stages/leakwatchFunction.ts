import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../lambdas/shared/metricNames.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LeakwatchFunctionProps {
  /** The function's directory under `lambdas/` (its entry is `handler.ts` there). */
  readonly handler: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Id of the function's log group (kept per function so logical ids do not change). */
  readonly logGroupId: string;
  readonly environment: Record<string, string>;
  /** How long the function's logs are kept. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays | undefined;
  /** Shell commands run after bundling: files the function needs beside its code. */
  readonly afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/**
 * How every function is bundled (also by bench/coldStart.ts, which measures what it gives): ESM for
 * nodejs24.x, minified, the AWS SDK inside the bundle so the function runs the versions the tests
 * ran, and no source map in the deployed asset (it was 7.2 MB beside 2.2 MB of code, and
 * --enable-source-maps parses it at every cold start); names are kept for readable stack traces.
 */
export const LAMBDA_BUNDLING = {
  target: 'node24',
  minify: true,
  sourceMap: false,
  keepNames: true,
  externalModules: [] as string[],
  mainFields: ['module', 'main'],
  // CommonJS dependencies inside an ESM bundle need `require`.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
};

/** The CloudWatch namespace a stack's functions publish their metrics to (one per deployment). */
export function metricsNamespace(scope: Construct): string {
  return `${METRICS_NAMESPACE}/${Stack.of(scope).stackName}`;
}

/**
 * One of leakwatch's functions, built the same way: the handler bundled by the local esbuild as ESM
 * for nodejs24.x on arm64 (LAMBDA_BUNDLING), logs kept a month.
 */
export function leakwatchFunction(
  scope: Construct,
  id: string,
  props: LeakwatchFunctionProps,
): NodejsFunction {
  const logGroup = new LogGroup(scope, props.logGroupId, {
    retention: props.logRetention ?? RetentionDays.ONE_MONTH,
  });
  // Its own role, allowed to write its own log group only (not AWSLambdaBasicExecutionRole's logs:* on *).
  const role = new Role(scope, `${id}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `leakwatch ${props.handler} function`,
  });
  logGroup.grantWrite(role);
  Validations.of(role).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    reason:
      'xray:PutTraceSegments/PutTelemetryRecords (active tracing) allow no resource narrower than *; the notify role also needs dynamodb:ListStreams, which has none either',
  });
  return new NodejsFunction(scope, id, {
    role,
    entry: join(projectRoot, 'lambdas', props.handler, 'handler.ts'),
    projectRoot,
    depsLockFilePath: join(projectRoot, 'package-lock.json'),
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    description: props.description,
    logGroup,
    // X-Ray: the Powertools tracer adds a segment per invocation and subsegments per AWS call.
    tracing: Tracing.ACTIVE,
    environment: {
      ...props.environment,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(scope),
      POWERTOOLS_LOG_LEVEL: 'INFO',
    },
    bundling: {
      ...LAMBDA_BUNDLING,
      format: OutputFormat.ESM,
      ...(props.afterBundling
        ? {
            commandHooks: {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: props.afterBundling,
            },
          }
        : {}),
    },
  });
}
