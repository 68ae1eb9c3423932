import { Logger } from '@aws-lambda-powertools/logger';

/** A Powertools logger that keeps each log item's attributes instead of printing them. */
export class CapturingLogger extends Logger {
  readonly lines: Record<string, unknown>[] = [];
  protected override printLog(_level: number, log: Parameters<Logger['printLog']>[1]): void {
    this.lines.push(log.getAttributes() as Record<string, unknown>);
  }
}
