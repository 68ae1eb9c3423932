/** A command-line flag or argument that cannot be used as given: exit 2 with the message. */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}
