/** A history question that cannot be answered as asked (a bad flag value, or nothing by that name). */
export class HistoryQueryError extends Error {
  override name = 'HistoryQueryError';
  /** HTTP status the API answers with (400 bad request, 404 not found). */
  constructor(
    message: string,
    readonly status: 400 | 404 = 400,
    /**
     * More for the person at the command line (the names the history knows); the HTTP API leaves it
     * out, so that a 404 does not list the deployment's firmware lines to whoever asks.
     */
    readonly hint?: string,
  ) {
    super(message);
  }
}
