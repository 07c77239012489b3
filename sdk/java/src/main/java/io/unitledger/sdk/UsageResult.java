package io.unitledger.sdk;

import java.util.List;
import java.util.Map;

/**
 * The server's answer to one report.
 *
 * @param recordId the usage record; null when the report was quarantined or is still buffered
 * @param units total units charged for the report
 * @param unitsByDimension {@code units} split by dimension
 * @param state the global enforcement state after the report
 * @param extensionState this extension's enforcement state after the report
 * @param licenseIds the licenses the units were charged to
 * @param duplicate true when the server had already recorded this report (same idempotency key)
 *     and answered with the first outcome
 * @param quarantineId set when the report named a dimension no license covers: it was kept in
 *     quarantine and not counted
 * @param reason why the report was quarantined, or null
 * @param buffered true when the server was unreachable and the report waits in the offline
 *     buffer; it will be sent, once, when the server is back
 * @param idempotencyKey the key the report was (or will be) sent with
 */
public record UsageResult(
        Long recordId,
        double units,
        Map<String, Double> unitsByDimension,
        EnforcementState state,
        EnforcementState extensionState,
        List<String> licenseIds,
        boolean duplicate,
        Long quarantineId,
        String reason,
        boolean buffered,
        String idempotencyKey) {

    /** Copies the collections so the result is immutable. */
    public UsageResult {
        unitsByDimension = unitsByDimension == null ? Map.of() : Map.copyOf(unitsByDimension);
        licenseIds = licenseIds == null ? List.of() : List.copyOf(licenseIds);
    }

    /**
     * Whether the server kept the report in quarantine instead of counting it.
     *
     * @return true when {@link #quarantineId()} is set
     */
    public boolean isQuarantined() {
        return quarantineId != null;
    }
}
