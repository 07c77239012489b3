package io.unitledger.sdk;

/** License enforcement states: global ones, plus {@link #DISABLED} for one extension. */
public enum EnforcementState {
    /** Licensed, with capacity left. */
    OK,
    /** Licensed, but 90 % or more of the units are used, or a license is in its grace period. */
    WARNING,
    /** No valid license covers the extension: it must stop consuming licensed capacity. */
    UNLICENSED,
    /** The extension reports a dimension no valid license covers. */
    DISABLED;

    /**
     * Whether an extension in this state may keep working.
     *
     * @return false for {@link #DISABLED} and {@link #UNLICENSED}
     */
    public boolean isEnabled() {
        return this != DISABLED && this != UNLICENSED;
    }
}
