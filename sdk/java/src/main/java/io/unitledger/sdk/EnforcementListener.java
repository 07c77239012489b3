package io.unitledger.sdk;

/**
 * Receives enforcement updates. Listeners are called one at a time, in order,
 * on a thread of the runtime's own; they should return quickly.
 */
@FunctionalInterface
public interface EnforcementListener {
    /**
     * Called with each update that changes what the runtime knows.
     *
     * @param change the update, as the server broadcast it
     * @param state the extension's effective state after the update
     */
    void onChange(StateChange change, EnforcementState state);
}
