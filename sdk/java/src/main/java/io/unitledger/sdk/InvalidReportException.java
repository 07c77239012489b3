package io.unitledger.sdk;

/** A usage report was refused, by the server or before sending by the same rules. */
public class InvalidReportException extends ValidationException {
    private static final long serialVersionUID = 1L;

    /**
     * An error with the server's fields.
     *
     * @param code the code, {@code "invalid_report"} or a more specific one
     * @param status the HTTP status
     * @param title short human summary
     * @param detail what was wrong and how to fix it
     * @param field the input field at fault, or null
     * @param retryable whether the same request may succeed later unchanged
     */
    public InvalidReportException(String code, int status, String title, String detail, String field, boolean retryable) {
        super(code, status, title, detail, field, retryable);
    }
}
