import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

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
 * One of leakwatch's functions, built the same way: the handler bundled by the local esbuild as ESM
 * for nodejs24.x on arm64, the AWS SDK inside the bundle, source maps on, logs kept a month.
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
    environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      sourceMap: true,
      // Bundle the SDK too, so the function runs the versions the tests ran.
      externalModules: [],
      mainFields: ['module', 'main'],
      // CommonJS dependencies inside an ESM bundle need `require`.
      banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
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
