package io.unitledger.sdk.impl;

import io.unitledger.sdk.EnforcementState;
import io.unitledger.sdk.StateChange;

/**
 * Keeps, per key, the state change with the highest seq (docs/protocol.md §5):
 * changes may arrive twice, from the bucket and from the broadcast, in any order.
 */
public final class EnforcementView {
    private final String extensionId;
    private StateChange global;
    private StateChange ext;

    /**
     * A view for one extension, before any change is known.
     *
     * @param extensionId the extension whose changes count
     */
    public EnforcementView(String extensionId) {
        this.extensionId = extensionId;
    }

    /**
     * Records a change if it is newer than what the view holds for its key.
     *
     * @param c the change
     * @return whether it was newer
     */
    public synchronized boolean apply(StateChange c) {
        if (c.isGlobal()) {
            if (global != null && c.seq() <= global.seq()) {
                return false;
            }
            global = c;
            return true;
        }
        if ("extension".equals(c.scope()) && extensionId.equals(c.extensionId())) {
            if (ext != null && c.seq() <= ext.seq()) {
                return false;
            }
            ext = c;
            return true;
        }
        return false;
    }

    /**
     * The effective state: the extension's own DISABLED or UNLICENSED state,
     * else the global state (OK before any change was announced).
     *
     * @return the state
     */
    public synchronized EnforcementState state() {
        if (ext != null && !ext.state().isEnabled()) {
            return ext.state();
        }
        return global == null ? EnforcementState.OK : global.state();
    }
}
