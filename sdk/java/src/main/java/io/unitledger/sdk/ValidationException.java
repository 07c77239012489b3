package io.unitledger.sdk;

/** The input was refused: the message names the field and says how to fix it. */
public class ValidationException extends UnitledgerException {
    private static final long serialVersionUID = 1L;

    /**
     * An error with the server's fields.
     *
     * @param code the code, {@code "invalid"} or a more specific one
     * @param status the HTTP status
     * @param title short human summary
     * @param detail what was wrong and how to fix it
     * @param field the input field at fault, or null
     * @param retryable whether the same request may succeed later unchanged
     */
    public ValidationException(String code, int status, String title, String detail, String field, boolean retryable) {
        super(code, status, title, detail, field, retryable);
    }
}
