package io.unitledger.sdk;

/** The health an extension reports about itself in its heartbeat. */
public enum HeartbeatStatus {
    /** Working normally. */
    OK,
    /** Working, with trouble; the SDK says so on its own while reports wait in the offline buffer. */
    WARNING,
    /** Not working. */
    ERROR
}
