import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LeakwatchStack } from '../../infra/leakwatchStack.ts';

/**
 * cdk-nag's AwsSolutions pack on the whole stack: synth fails on any error that is not
 * acknowledged, and every acknowledgment carries its reason in the code beside the resource.
 */
describe('cdk-nag AwsSolutions', () => {
  it('finds no unacknowledged error in the stack', () => {
    const app = new App();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    new LeakwatchStack(app, 'Nag', { alertEmail: 'team@example.com' });
    let failure: Error | undefined;
    try {
      app.synth();
    } catch (error) {
      failure = error as Error;
    }
    const outdir = app.outdir;
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        pluginName: string;
        violations: {
          ruleName: string;
          violatingResources?: { resourceLogicalId: string }[];
          violatingConstructs?: { constructPath: string }[];
        }[];
      }[];
    };
    const open = report.pluginReports.flatMap((r) =>
      r.violations.map(
        (v) =>
          `${v.ruleName}: ${[
            ...(v.violatingResources ?? []).map((x) => x.resourceLogicalId),
            ...(v.violatingConstructs ?? []).map((x) => x.constructPath),
          ].join(', ')}`,
      ),
    );
    expect(open).toEqual([]);
    expect(failure).toBeUndefined();
  });
});
