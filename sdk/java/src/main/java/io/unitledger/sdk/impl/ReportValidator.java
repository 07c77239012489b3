package io.unitledger.sdk.impl;

import io.unitledger.sdk.InvalidReportException;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The server's rules for a report (docs/protocol.md §2), applied before
 * sending so bad input fails at once with the server's code, field and message.
 */
public final class ReportValidator {
    private static final Pattern DIMENSION = Pattern.compile("[a-z][a-z0-9_]{0,63}");
    private static final Pattern EXTENSION_ID = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");
    private static final Pattern ACCOUNT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._@+:/\\\\-]{0,127}");
    private static final Pattern IDEMPOTENCY_KEY = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final int MAX_DIMENSIONS = 64;
    private static final double MAX_VALUE = 1e15;

    private ReportValidator() {}

    static InvalidReportException invalid(String field, String detail) {
        return new InvalidReportException("invalid_report", 400, "Invalid usage report", detail, field, false);
    }

    /**
     * Checks an extension id.
     *
     * @param id the id
     * @throws InvalidReportException naming field extension_id
     */
    public static void checkExtensionId(String id) {
        if (id == null || !EXTENSION_ID.matcher(id).matches()) {
            throw invalid("extension_id", "extension_id " + (id == null ? "None" : PyRepr.string(id))
                    + " is invalid: use 1-64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit");
        }
    }

    /**
     * Checks an account name.
     *
     * @param account the account
     * @throws InvalidReportException naming field account
     */
    public static void checkAccount(String account) {
        if (!ACCOUNT.matcher(account).matches()) {
            throw invalid("account", "account " + PyRepr.string(account)
                    + " is invalid: use 1-128 printable ASCII characters (letters, digits and . _ @ + : / -),"
                    + " starting with a letter or digit");
        }
    }

    /**
     * Checks an idempotency key.
     *
     * @param key the key
     * @throws InvalidReportException naming field idempotency_key
     */
    public static void checkIdempotencyKey(String key) {
        if (!IDEMPOTENCY_KEY.matcher(key).matches()) {
            throw invalid("idempotency_key", "idempotency_key must be 1-128 characters from A-Z a-z 0-9 . _ : -");
        }
    }

    /**
     * Checks dimensions in the order the server sees them (sorted by name, as
     * the SDK sends them) and returns them sorted.
     *
     * @param dimensions the report's dimensions
     * @return the same dimensions, sorted by name
     * @throws InvalidReportException naming the first field at fault
     */
    public static SortedMap<String, Number> checkDimensions(Map<String, ? extends Number> dimensions) {
        if (dimensions == null) {
            throw invalid("dimensions", "dimensions must be an object of {name: value}");
        }
        if (dimensions.isEmpty()) {
            throw invalid("dimensions", "dimensions is empty: report at least one dimension");
        }
        if (dimensions.size() > MAX_DIMENSIONS) {
            throw invalid("dimensions", "too many dimensions (" + dimensions.size() + "); at most "
                    + MAX_DIMENSIONS + " per report");
        }
        TreeMap<String, Number> sorted = new TreeMap<>();
        for (Map.Entry<String, ? extends Number> e : dimensions.entrySet()) {
            if (e.getKey() == null) {
                throw invalid("dimensions", "dimension names must be strings, got None");
            }
            sorted.put(e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Number> e : sorted.entrySet()) {
            String name = e.getKey();
            String where = name.codePointCount(0, name.length()) <= 64 ? "dimensions." + name : "dimensions";
            if (!DIMENSION.matcher(name).matches()) {
                throw invalid(where, "dimension name " + PyRepr.string(name)
                        + " is invalid: names match [a-z][a-z0-9_]{0,63} (lower-case letter first, then letters,"
                        + " digits or underscores)");
            }
            Number value = e.getValue();
            if (value == null) {
                throw invalid(where, where + " must be a number, got None");
            }
            double v = value.doubleValue();
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                throw invalid(where, where + " must be a finite number, got " + PyRepr.number(value));
            }
            if (v < 0) {
                throw invalid(where, where + " is negative (" + PyRepr.number(value)
                        + "); values are non-negative increments");
            }
            if (v > MAX_VALUE) {
                throw invalid(where, where + " is too large (at most 1e+15)");
            }
        }
        return sorted;
    }
}
