package io.unitledger.sdk;

/**
 * The server is unreachable and the offline buffer is full. Nothing was
 * dropped: this report was not accepted and may be sent again later.
 */
public class BufferFullException extends UnitledgerException {
    private static final long serialVersionUID = 1L;

    /**
     * The error for a buffer holding {@code capacity} reports.
     *
     * @param capacity the buffer's size
     */
    public BufferFullException(int capacity) {
        super("buffer_full", 503, "Offline buffer full",
                "the server is unreachable and the offline buffer already holds " + capacity
                        + " reports; the report was not accepted, retry once the server is reachable",
                null, true);
    }
}
