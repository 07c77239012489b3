package io.unitledger.sdk.impl;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** The bounded FIFO of reports waiting for the server (docs/protocol.md §4). */
final class OfflineBuffer {
    private final int capacity;
    private final ArrayDeque<Pending> reports = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private boolean woken;

    OfflineBuffer(int capacity) {
        this.capacity = capacity;
    }

    int capacity() {
        return capacity;
    }

    /** Appends a report; false when the buffer is full. */
    boolean push(Pending p) {
        lock.lock();
        try {
            if (reports.size() >= capacity) {
                return false;
            }
            reports.addLast(p);
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The oldest report, waiting for one to arrive. */
    Pending awaitHead() throws InterruptedException {
        lock.lock();
        try {
            while (reports.isEmpty()) {
                changed.await();
            }
            return reports.peekFirst();
        } finally {
            lock.unlock();
        }
    }

    /** Removes the oldest report once it was delivered or refused for good. */
    void pop() {
        lock.lock();
        try {
            reports.pollFirst();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    int size() {
        lock.lock();
        try {
            return reports.size();
        } finally {
            lock.unlock();
        }
    }

    /** Cuts a back-off short: the connection is back. */
    void wake() {
        lock.lock();
        try {
            woken = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Sleeps up to {@code nanos} or until woken. */
    void pause(long nanos) throws InterruptedException {
        lock.lock();
        try {
            while (!woken && nanos > 0) {
                nanos = changed.awaitNanos(nanos);
            }
            woken = false;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until the buffer is empty; false on timeout. */
    boolean awaitEmpty(long timeout, TimeUnit unit) throws InterruptedException {
        long nanos = unit.toNanos(timeout);
        lock.lock();
        try {
            while (!reports.isEmpty()) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = changed.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }
}
