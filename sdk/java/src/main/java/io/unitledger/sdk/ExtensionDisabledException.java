package io.unitledger.sdk;

/**
 * Raised, when the runtime was built with {@code failFast(true)}, for a report
 * answered while the extension is {@link EnforcementState#DISABLED} or
 * {@link EnforcementState#UNLICENSED}. The server still kept the report
 * (recorded, or quarantined when it named an uncovered dimension).
 */
public class ExtensionDisabledException extends UnitledgerException {
    private static final long serialVersionUID = 1L;

    private final transient UsageResult result;
    private final EnforcementState state;

    /**
     * The error for a report answered with a disabled state.
     *
     * @param state the extension's state
     * @param reason the server's explanation, or null
     * @param result the server's answer to the report
     */
    public ExtensionDisabledException(EnforcementState state, String reason, UsageResult result) {
        super("extension_disabled", 403, "Extension disabled",
                "extension is " + state + (reason == null || reason.isEmpty() ? "" : ": " + reason),
                null, false);
        this.state = state;
        this.result = result;
    }

    /**
     * The extension's state, {@link EnforcementState#DISABLED} or {@link EnforcementState#UNLICENSED}.
     *
     * @return the state
     */
    public EnforcementState state() {
        return state;
    }

    /**
     * What the server answered for the report.
     *
     * @return the result, with its quarantine id when the report was quarantined
     */
    public UsageResult result() {
        return result;
    }
}
