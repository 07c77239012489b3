package io.unitledger.sdk.impl;

import java.time.Duration;
import java.util.List;

/**
 * Everything a runtime is built from, after defaults were applied.
 *
 * @param name connection name
 * @param extensionId the extension reported as
 * @param token the extension token, or null when none was given
 * @param servers NATS URLs
 * @param account default account, or null
 * @param requestTimeout bound of one delivery attempt
 * @param bufferSize capacity of the offline buffer
 * @param heartbeatInterval heartbeat period, or null for half the bucket's TTL
 * @param failFast throw ExtensionDisabledException for reports answered while disabled
 */
public record RuntimeSettings(
        String name,
        String extensionId,
        String token,
        List<String> servers,
        String account,
        Duration requestTimeout,
        int bufferSize,
        Duration heartbeatInterval,
        boolean failFast) {}
