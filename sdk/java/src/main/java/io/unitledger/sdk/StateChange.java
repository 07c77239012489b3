package io.unitledger.sdk;

import java.util.List;
import java.util.Objects;

/**
 * One enforcement update, as broadcast by the server and kept in its
 * enforcement key-value bucket.
 *
 * @param scope {@code "global"} or {@code "extension"}
 * @param extensionId the extension, or null for a global change
 * @param state the new state
 * @param previousState the state before, or null when there was none
 * @param reason why the state changed, in words
 * @param uncoveredDimensions dimensions no valid license covers (for {@link EnforcementState#DISABLED})
 * @param changedAt when the server changed the state, RFC 3339
 * @param seq increases by one per change of the same key
 */
public record StateChange(
        String scope,
        String extensionId,
        EnforcementState state,
        EnforcementState previousState,
        String reason,
        List<String> uncoveredDimensions,
        String changedAt,
        long seq) {

    /**
     * Validates and copies the fields.
     *
     * @throws NullPointerException when scope or state is missing
     */
    public StateChange {
        Objects.requireNonNull(scope, "scope");
        Objects.requireNonNull(state, "state");
        uncoveredDimensions = uncoveredDimensions == null ? List.of() : List.copyOf(uncoveredDimensions);
        reason = reason == null ? "" : reason;
    }

    /**
     * Whether this change is about the whole deployment rather than one extension.
     *
     * @return true for scope {@code "global"}
     */
    public boolean isGlobal() {
        return "global".equals(scope);
    }
}
