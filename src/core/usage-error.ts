/** Bad input from the user (flag, target, profile): nothing was probed; the CLI exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly code = 'RG_USAGE';
  /** The right form, shown under the message. */
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** Type guard for UsageError. */
export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}
