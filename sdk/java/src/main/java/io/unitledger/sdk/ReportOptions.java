package io.unitledger.sdk;

import java.time.Instant;

/**
 * Settings for one report, when the runtime's defaults do not fit.
 *
 * @param account whom the work was done for; null for the runtime's default account
 * @param idempotencyKey a key of the caller's choosing; null to let the SDK generate one.
 *     A report sent twice with the same key and content is counted once.
 * @param occurredAt when the work happened; null for when the server receives the report
 */
public record ReportOptions(String account, String idempotencyKey, Instant occurredAt) {

    /** No overrides. */
    public static final ReportOptions DEFAULT = new ReportOptions(null, null, null);

    /**
     * These options with another account.
     *
     * @param account the account the work was done for
     * @return a copy with {@code account} set
     */
    public ReportOptions withAccount(String account) {
        return new ReportOptions(account, idempotencyKey, occurredAt);
    }

    /**
     * These options with a given idempotency key.
     *
     * @param idempotencyKey 1-128 characters from A-Z a-z 0-9 . _ : -
     * @return a copy with {@code idempotencyKey} set
     */
    public ReportOptions withIdempotencyKey(String idempotencyKey) {
        return new ReportOptions(account, idempotencyKey, occurredAt);
    }

    /**
     * These options with the time the work happened.
     *
     * @param occurredAt when the work happened
     * @return a copy with {@code occurredAt} set
     */
    public ReportOptions withOccurredAt(Instant occurredAt) {
        return new ReportOptions(account, idempotencyKey, occurredAt);
    }
}
