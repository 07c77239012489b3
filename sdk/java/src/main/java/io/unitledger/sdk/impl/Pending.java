package io.unitledger.sdk.impl;

import java.util.SortedMap;

/**
 * One report on its way: everything a retry must repeat exactly.
 *
 * @param account the account, or null
 * @param dimensions the dimensions, sorted by name
 * @param idempotencyKey the key, the same on every attempt
 * @param occurredAt when the work happened, or null until the report is buffered
 */
record Pending(String account, SortedMap<String, Number> dimensions, String idempotencyKey, String occurredAt) {

    /** This report dated {@code at}, unless it already has a date. */
    Pending datedIfUnset(String at) {
        return occurredAt != null ? this : new Pending(account, dimensions, idempotencyKey, at);
    }
}
