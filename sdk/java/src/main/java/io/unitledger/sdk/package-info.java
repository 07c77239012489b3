/**
 * The unitledger SDK for Java: report extension usage to a unitledger server
 * and follow license enforcement.
 *
 * <pre>{@code
 * try (ExtensionRuntime runtime = ExtensionRuntime.builder()
 *         .name("Oracle CDC")
 *         .extensionId("oracle-cdc")
 *         .token(System.getenv("UNITLEDGER_TOKEN"))
 *         .servers("nats://127.0.0.1:4222")
 *         .build()) {
 *     runtime.start();
 *     UsageResult r = runtime.reportUsage(Map.of("tables_replicated", 5));
 * }
 * }</pre>
 *
 * <p>Reports travel over NATS request/reply as described in the project's
 * {@code docs/protocol.md}. Each report carries an idempotency key generated
 * by the SDK and reused on every retry, so a report is never counted twice.
 * While the server cannot be reached, reports wait in a bounded offline buffer
 * and are replayed in order once it is back; the call then returns a result
 * whose {@link io.unitledger.sdk.UsageResult#buffered()} is true.
 *
 * <p>Errors are unchecked and derive from
 * {@link io.unitledger.sdk.UnitledgerException}; those the server sends carry
 * its code and message unchanged. Everything in {@code io.unitledger.sdk.impl}
 * is internal.
 */
package io.unitledger.sdk;
