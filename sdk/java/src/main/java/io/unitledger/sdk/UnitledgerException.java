package io.unitledger.sdk;

/**
 * Root of every error the SDK raises. Errors the server sends keep its code
 * and message; the subclasses follow the server's error tree:
 *
 * <pre>
 * UnitledgerException                    code "error"
 * ├── ValidationException                "invalid"
 * │   └── InvalidReportException         "invalid_report"
 * ├── NotFoundException                  "not_found"
 * ├── ConflictException                  "conflict"
 * │   └── IdempotencyConflictException   "idempotency_conflict"
 * ├── UnauthorizedException              "unauthorized"
 * ├── ForbiddenException                 "forbidden"
 * ├── UnavailableException               "unavailable" (retryable)
 * │   └── OverloadedException            "overloaded" (retryable)
 * ├── BufferFullException                "buffer_full" (SDK only)
 * └── ExtensionDisabledException         "extension_disabled" (SDK only)
 * </pre>
 */
public class UnitledgerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String code;
    private final int status;
    private final String title;
    private final String field;
    private final boolean retryable;

    /**
     * An error with every field the wire format carries.
     *
     * @param code stable machine-readable code, the same in every SDK
     * @param status the HTTP status the error maps to
     * @param title short human summary of the category
     * @param detail what was wrong and how to fix it (the exception's message)
     * @param field the input field at fault, or null
     * @param retryable whether the same request may succeed later unchanged
     */
    public UnitledgerException(
            String code, int status, String title, String detail, String field, boolean retryable) {
        super(detail);
        this.code = code;
        this.status = status;
        this.title = title;
        this.field = field;
        this.retryable = retryable;
    }

    /**
     * The stable machine-readable code, e.g. {@code invalid_report}.
     *
     * @return the code
     */
    public String code() {
        return code;
    }

    /**
     * The HTTP status the error maps to.
     *
     * @return the status
     */
    public int status() {
        return status;
    }

    /**
     * A short human summary of the category.
     *
     * @return the title
     */
    public String title() {
        return title;
    }

    /**
     * What was wrong and how to fix it; the same as {@link #getMessage()}.
     *
     * @return the detail
     */
    public String detail() {
        return getMessage();
    }

    /**
     * The input field at fault, e.g. {@code dimensions.rows}.
     *
     * @return the field, or null when no single field is at fault
     */
    public String field() {
        return field;
    }

    /**
     * Whether the same request may succeed later unchanged.
     *
     * @return true for unavailable and overloaded
     */
    public boolean isRetryable() {
        return retryable;
    }
}
