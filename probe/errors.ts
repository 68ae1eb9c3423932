/** A problem with a whole capture file (unreadable, bad magic, unsupported link type): fatal. */
export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

/** A bad command-line flag or lab configuration: fatal before any capture is read. */
export class ProbeUsageError extends Error {
  override name = 'ProbeUsageError';
}

/** Records could not be delivered to the stream after every retry. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

/** A flow-table worker thread of `--threads` died (out of memory, a bug): the run cannot finish. */
export class ProbeWorkerError extends Error {
  override name = 'ProbeWorkerError';
}
